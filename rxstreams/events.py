"""Event: one message in a stream, with its metadata and its ack.

Acks use tokens. A message delivered to ``k`` streams gets ``k`` tokens, one per stream,
taken before fan-out. Whichever :class:`Event` object a stream currently carries owns that
stream's token: ``map`` moves it to the new event, a fan-out splits it. The message is acked
(its offset can be committed) when every token is released:

- explicitly: the agent's loop moved past the event, ``event.ack()``, an operator dropped it;
- implicitly: the last reference to an event that still owns its token went away (an
  operator we do not know dropped it; CPython frees it at once). An event that an operator
  *holds* (buffer, window, delay, per-group state) is still referenced, so it stays in flight.

An event whose processing failed is *pinned*: it is never acked implicitly, so commits stop
before it and it is delivered again after a restart.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._display import html_table, short, when
from .errors import EventError, NoCurrentEventError, RejectedTooOftenError
from .messages import Headers
from .types import MessageT

if TYPE_CHECKING:
    from ._offsets import PartitionOffsets
    from ._source import Port

__all__ = (
    "CORRELATION_ID_HEADER",
    "REPLY_TO_HEADER",
    "Event",
    "current_event",
    "decode_headers",
    "encode_headers",
)

#: headers of a request sent with ``Agent.ask()``
REPLY_TO_HEADER = "rxs-reply-to"
CORRELATION_ID_HEADER = "rxs-correlation-id"

K = TypeVar("K")
V = TypeVar("V")
V2 = TypeVar("V2")

#: a one-item list holding what the running agent is processing (an Event, a batch of
#: Events, or None). The context variable is set once per iteration; each step only
#: stores into the list, which is much cheaper than setting a context variable per event.
_current: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "rxstreams_current_event", default=None
)


def _current_item() -> Any:
    """What the running agent (this task) is processing, or None."""
    holder = _current.get()
    return None if holder is None else holder[0]


def current_event() -> Event[Any, Any]:
    """The event the running agent is processing.

    Raises:
        NoCurrentEventError: when called outside an agent (no event is being processed);
            it is a :class:`RuntimeError`, as in Faust.
    """
    item = _current_item()
    if type(item) is list and item:
        item = item[-1]
    if not isinstance(item, Event):
        raise NoCurrentEventError(
            "current_event() was called outside an agent processing an event: call it in "
            "the body of an @app.agent function (or in code it calls)"
        )
    return item


def decode_headers(raw: Headers) -> dict[str, Any]:
    """Wire headers as a dict; values are ``str`` when they are UTF-8, else ``bytes``."""
    out: dict[str, Any] = {}
    for name, value in raw:
        try:
            out[name] = value.decode()
        except (UnicodeDecodeError, AttributeError):
            out[name] = value
    return out


def encode_headers(headers: Mapping[str, Any] | Headers | None) -> Headers:
    """Headers for the wire: bytes as they are, ``str`` as UTF-8, anything else as ``str(x)``."""
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, bytes]] = []
    for name, value in items:
        if isinstance(value, bytes):
            out.append((name, value))
        elif isinstance(value, str):
            out.append((name, value.encode()))
        else:
            out.append((name, str(value).encode()))
    return tuple(out)


class Event(Generic[K, V]):
    """A key, a value, headers and a timestamp, and the ack of the message they came from.

    Events created by users (``Event(key=..., value=...)``) carry no message and no ack;
    they exist to be sent with :meth:`send`.
    """

    __slots__ = (
        "_attempts",
        "_headers",
        "_keep",
        "_owns",
        "_pending",
        "_pinned",
        "_port",
        "_root",
        "_ts",
        "key",
        "message",
        "offsets",
        "value",
    )

    key: K
    value: V
    #: the underlying record (topic, partition, offset, timestamp in ms), or None
    message: MessageT | None

    def __init__(
        self,
        key: K | None = None,
        value: V | None = None,
        headers: Mapping[str, Any] | None = None,
        message: MessageT | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.key = key  # type: ignore[assignment]
        self.value = value  # type: ignore[assignment]
        self.message = message
        self._headers = dict(headers) if headers is not None else None
        self._ts = timestamp
        #: the event holding the message's ack count; None when this event is that one
        #: (a reference to itself would make every event a cycle only the GC can free)
        self._root: Event[Any, Any] | None = None
        self._owns = False
        self._pinned = False
        self._pending = 0
        self._attempts = 0
        self._port: Port | None = None
        self._keep: list[Event[Any, Any]] | None = None
        self.offsets: PartitionOffsets | None = None

    # -- metadata ---------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, Any]:
        """Headers as a dict (received values are ``str`` when UTF-8, else ``bytes``)."""
        h = self._headers
        if h is None:
            msg = self.message
            h = decode_headers(msg.headers) if msg is not None else {}
            self._headers = h
        return h

    @property
    def timestamp(self) -> float:
        """Unix timestamp in seconds."""
        ts = self._ts
        if ts is None:
            msg = self.message
            ts = msg.timestamp / 1000.0 if msg is not None else time.time()
            self._ts = ts
        return ts

    @property
    def reply_to(self) -> str | None:
        """Where the reply to this request goes (set by ``Agent.ask()``), or None."""
        value = self.headers.get(REPLY_TO_HEADER)
        return None if value is None else str(value)

    @property
    def correlation_id(self) -> str | None:
        """The id the asker waits for (set by ``Agent.ask()``), or None."""
        value = self.headers.get(CORRELATION_ID_HEADER)
        return None if value is None else str(value)

    @property
    def acked(self) -> bool:
        """True once every stream that received the message is done with it."""
        root = self._root or self
        return root._pending == 0 and root.offsets is not None

    # -- acks -------------------------------------------------------------------------------

    def ack(self) -> bool:
        """This stream is done with the event.

        Returns True the first time; acking again, or acking an event whose token already
        moved on (to a mapped event, or because the agent's loop moved past it), is a no-op
        that returns False. An ack after the partition was revoked is also a no-op: the new
        owner of the partition processes the message again.
        """
        keep = self._keep
        if keep is not None:
            self._keep = None
            for e in keep:
                e.ack()
        if not self._owns:
            return keep is not None
        self._owns = False
        root = self._root or self
        root._pending -= 1
        if root._pending == 0:
            offsets = root.offsets
            if offsets is not None and root.message is not None:
                return offsets.ack(root.message.offset)
        return True

    def reject(self) -> None:
        """Not done: deliver the event to this stream again, later.

        The offset is not committed past it meanwhile. After ``redelivery_limit`` rejections
        it raises :class:`~rxstreams.errors.RejectedTooOftenError` instead, and the event
        stays pinned (the agent's error policy decides what happens next).
        """
        port = self._port
        if port is None or not self._owns:
            raise EventError("reject() needs an event received from a stream and not yet acked")
        root = self._root or self
        root._attempts += 1
        if root._attempts > port.redelivery_limit:
            self._pinned = True
            msg = root.message
            where = f"{msg.topic}[{msg.partition}]@{msg.offset}" if msg is not None else "event"
            raise RejectedTooOftenError(
                f"{where} was rejected {root._attempts} times "
                f"(redelivery_limit={port.redelivery_limit})"
            )
        self._redeliver()

    def _redeliver(self) -> None:
        """Hand the message, as it was decoded, to the top of this stream again (the
        operators run on it again); the token moves to the new event."""
        port = self._port
        if port is None or not self._owns:
            return
        root = self._root or self
        msg = root.message
        original = root.value
        if msg is not None and msg.value is not None and port.source.name == msg.topic:
            original = port.source.decode_value(msg.value)  # map may have replaced it
        again = self._derive(original)
        again.key = root.key
        again._headers = root._headers
        port.redeliver(again)

    def _pin(self) -> None:
        """Never ack this event implicitly: its processing failed."""
        self._pinned = True
        if self._keep is not None:
            for e in self._keep:
                e._pin()

    def _derive(self, value: V2) -> Event[K, V2]:
        """A new event with ``value`` that takes over this event's token."""
        new: Event[K, V2] = Event.__new__(Event)
        new.key = self.key
        new.value = value
        new.message = self.message
        new._headers = self._headers
        new._ts = self._ts
        new._root = self._root or self
        new._port = self._port
        new._pinned = False
        new._keep = self._keep  # what the token's holder keeps moves with the token
        self._keep = None
        new._owns = self._owns
        self._owns = False
        return new

    def _fork(self, value: V2, *, keep: list[Event[Any, Any]] | None = None) -> Event[K, V2]:
        """A new event with ``value`` holding a token of its own on this event's message.

        This event keeps its token: use it for work *derived from* an event that may also
        be held elsewhere (a value an unknown operator computed, a join result). ``keep``
        lists more events whose acks wait for the new one (their tokens move into it).
        If this event no longer owns a token, the new one has none either.
        """
        new: Event[K, V2] = Event.__new__(Event)
        new.key = self.key
        new.value = value
        new.message = self.message
        new._headers = self._headers
        new._ts = self._ts
        new._root = self._root or self
        new._port = self._port
        new._pinned = False
        new._keep = keep
        new._owns = self._owns
        if self._owns:
            (self._root or self)._pending += 1
        return new

    def _split(self, n: int) -> list[Event[K, V]]:
        """``n`` events sharing this message, each with a token of its own (a fan-out)."""
        if n == 1:
            return [self]
        owned = self._owns
        views = [self._derive(self.value) for _ in range(n)]
        if owned:
            (self._root or self)._pending += n - 1
            for v in views:
                v._owns = True
        return views

    def __del__(self) -> None:
        try:
            if self._owns and not self._pinned:
                port = self._port
                if port is None or not port.failed:
                    self.ack()
        except Exception:  # a finalizer must never raise
            pass

    # -- producing --------------------------------------------------------------------------

    async def send(
        self,
        channel: Any,
        key: Any = None,
        value: Any = None,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send a new event to ``channel`` (a topic, channel, agent or topic name).

        ``key`` and ``value`` default to this event's.
        """
        target = self._resolve(channel)
        return await target.send(
            key=self.key if key is None else key,
            value=self.value if value is None else value,
            partition=partition,
            timestamp=timestamp,
            headers=headers if headers is not None else self._headers,
            **kwargs,
        )

    async def forward(
        self,
        channel: Any,
        *,
        key: Any = None,
        value: Any = None,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Forward this event to ``channel``, keeping its headers and timestamp.

        ``key``, ``value``, ``partition`` and ``timestamp`` override; ``headers`` are added
        to (and override) the event's own.
        """
        target = self._resolve(channel)
        merged = dict(self.headers)
        if headers:
            merged.update(headers)
        return await target.send(
            key=self.key if key is None else key,
            value=self.value if value is None else value,
            partition=partition,
            timestamp=self.timestamp if timestamp is None else timestamp,
            headers=merged,
            **kwargs,
        )

    def _resolve(self, channel: Any) -> Any:
        if isinstance(channel, str):
            port = self._port
            if port is None:
                raise EventError(
                    f"cannot send to topic name {channel!r} from an event that came from no "
                    "app; pass a Topic or Channel object"
                )
            return port.app.topic(channel)
        if not hasattr(channel, "send"):
            raise EventError(f"cannot send to {channel!r}: it is not a topic, channel or agent")
        return channel

    def __repr__(self) -> str:
        msg = self.message
        where = f" {msg.topic}[{msg.partition}]@{msg.offset}" if msg is not None else ""
        return f"<Event{where} key={short(self.key)} value={short(self.value)}>"

    def _repr_html_(self) -> str:
        msg = self.message
        rows: list[tuple[str, Any]] = [("key", short(self.key)), ("value", short(self.value))]
        if msg is not None:
            rows.append(("from", f"{msg.topic}[{msg.partition}]@{msg.offset}"))
        rows.append(("timestamp", when(self.timestamp)))
        rows.extend((f"header {k}", short(v)) for k, v in self.headers.items())
        rows.append(("acked", self.acked))
        return html_table(("", ""), rows, caption="Event")
