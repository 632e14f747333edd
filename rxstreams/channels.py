"""Channel: an in-process, unpartitioned stream of Python objects (nothing is serialized).

Channel events have no broker offsets to commit, but they are acked like any other event,
and :meth:`Channel.send` waits while too many are in flight, so a fast producer cannot
outgrow a slow agent.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .messages import Message
from .records import Record
from .streams import Stream

if TYPE_CHECKING:
    from .app import App
    from .events import Event
    from .runtime.source import Source

__all__ = ("Channel",)

K = TypeVar("K")
V = TypeVar("V")

_ids = itertools.count()


class Channel(Generic[K, V]):
    """An in-memory channel. Create it with :meth:`App.channel`."""

    def __init__(self, app: App, *, name: str | None = None, maxsize: int | None = None) -> None:
        self.app = app
        self.name = name or f"channel-{next(_ids)}"
        self.maxsize = maxsize or app.conf.stream_buffer_maxsize
        self._offset = itertools.count()

    def stream(self) -> Stream[V]:
        """A new Stream of what is sent to this channel."""
        source = self.app.worker.source_for_channel(self)
        return Stream(observable=source.observable, app=self.app, sources=[source])

    async def send(
        self,
        *,
        key: K | None = None,
        value: V | None = None,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Deliver a value to the channel's streams; waits while the channel is full.

        Nothing is serialized, but a Record key or value is validated first (RecordError).
        """
        for obj in (key, value):
            if isinstance(obj, Record):
                obj.validate_or_raise()
        source = self.app.worker.source_for_channel(self)
        await source.wait_for_room()
        ts = time.time() if timestamp is None else timestamp
        message = Message(self.name, 0, next(self._offset), int(ts * 1000), None, None, ())
        source.deliver_local(message, key, value, headers, ts)

    def deliver_now(self, key: K | None, value: V | None) -> None:
        """Deliver a value without waiting for room, from synchronous code (a table's
        changes): a hot source, it is delivered only while a stream listens."""
        ts = time.time()
        message = Message(self.name, 0, next(self._offset), int(ts * 1000), None, None, ())
        self._source().deliver_local(message, key, value, None, ts)

    def _source(self) -> Source:
        """The app's source of this channel (its streams, its in-flight count)."""
        return self.app.worker.source_for_channel(self)

    def _deliver(self, event: Event[Any, Any]) -> None:
        """Deliver ``event`` itself, not a copy: it keeps its message and its ack token.

        Used to hand another stream's event over (a tee branch, echo or through to this
        channel): its message is committed only after this channel's streams processed it.
        This does not wait for room: callers wait on ``_source().wait_for_room()`` first
        while the channel is paused, so the channel's flow control still applies.
        """
        marker = Message(self.name, 0, next(self._offset), 0, None, None, ())
        self._source().deliver_view(event, marker)

    def __repr__(self) -> str:
        return f"<Channel {self.name}>"
