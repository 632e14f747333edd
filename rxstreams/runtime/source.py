"""The hot Observable of one topic (or channel) inside an app.

The fetch loop hands it batches of records; it decodes each record once, creates one
:class:`~rxstreams.events.Event` per subscriber (each owning one ack token, taken before
fan-out) and pushes them to the subscribers in order. It also counts the messages in
flight (delivered, not yet acked) and pauses its partitions when there are too many, so
memory stays bounded whatever the operators downstream hold.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from ..codecs import JSONCodec
from ..errors import CodecError, RxStreamsError
from ..events import Event
from ..logging import get_logger
from ..types import CodecT, MessageT
from .offsets import PartitionOffsets
from .tokens import attach, revoked, root, split

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ("Port", "Source")

log = get_logger(__name__)

_new = object.__new__


class Port:
    """One subscriber of a source: where its events (and its redeliveries) go."""

    __slots__ = ("app", "closed", "failed", "observer", "redelivery_limit", "source")

    def __init__(self, source: Source, observer: abc.ObserverBase[Any]) -> None:
        self.source = source
        self.observer = observer
        #: the app the events came from (``event.send("topic name")`` uses it)
        self.app = source.worker.app
        self.redelivery_limit = source.worker.app.conf.redelivery_limit
        #: the subscriber's pipeline errored: events it let go of are not acked implicitly
        #: (they may be the one that failed, or ones an operator held), explicit acks count
        self.failed = False
        #: the subscriber is gone
        self.closed = False

    def redeliver(self, event: Event[Any, Any]) -> None:
        """Deliver ``event`` (which owns its token) to this subscriber again, soon."""
        asyncio.get_running_loop().call_soon(self._again, event)

    def _again(self, event: Event[Any, Any]) -> None:
        if self in self.source.ports:
            self.observer.on_next(event)
        # else: the subscriber is gone; dropping the event acks it as dropped


class Source:
    """A hot Observable of Events for one topic (or channel) of a worker."""

    def __init__(
        self,
        worker: Worker,
        name: str,
        key_codec: CodecT,
        value_codec: CodecT,
        *,
        pause: Callable[[Source], None],
        resume: Callable[[Source], None],
        on_decode_error: str = "raise",
        dead_letter_topic: str | None = None,
    ) -> None:
        self.worker = worker
        #: what happens to a record that does not decode: raise, skip or dead_letter
        self.on_decode_error = on_decode_error
        self.dead_letter_topic = dead_letter_topic
        self.name = name
        self.ports: list[Port] = []
        self.observable: reactivex.Observable[Event[Any, Any]] = reactivex.create(self._subscribe)
        self._key_loads = _loads_of(key_codec)
        self._value_loads = _loads_of(value_codec)
        self._pause = pause
        self._resume = resume
        self._held: deque[tuple[int, Callable[[], None]]] = deque()
        # flow control (see PartitionOffsets.ack)
        self.in_flight = 0
        self.paused = False
        self.maxsize = worker.app.conf.stream_buffer_maxsize
        self.resume_below = self.maxsize // 2
        #: set while there is room (not paused); channel senders wait on it
        self.room = asyncio.Event()
        self.room.set()
        #: the last few records delivered (for notebooks' displays)
        self.recent: deque[MessageT] = deque(maxlen=5)
        #: offsets of a channel's single pseudo-partition (None for topics)
        self.local: PartitionOffsets | None = None

    # -- subscription -------------------------------------------------------------------------

    def _subscribe(
        self, observer: abc.ObserverBase[Event[Any, Any]], scheduler: abc.SchedulerBase | None
    ) -> abc.DisposableBase:
        port = Port(self, observer)
        self.ports.append(port)
        if self._held:
            asyncio.get_running_loop().call_soon(self._flush_held)

        def dispose() -> None:
            port.closed = True
            if port in self.ports:
                self.ports.remove(port)

        return Disposable(dispose)

    def _flush_held(self) -> None:
        while self._held and self.ports:
            _, emit = self._held.popleft()
            emit()
        self._check_flow()

    def decode_value(self, data: bytes) -> Any:
        """The value of a record of this source, decoded again (for a redelivery)."""
        return self._value_loads(data)

    # -- delivery -----------------------------------------------------------------------------

    def deliver(self, messages: Sequence[MessageT], offsets: PartitionOffsets) -> None:
        """Hand one fetched batch of one partition to every subscriber, in order."""
        offsets.delivered([m.offset for m in messages])
        self.in_flight += len(messages)
        self.recent.extend(messages[-5:])
        if not self.ports or self._held:
            self._held.append((len(messages), partial(self._emit, messages, offsets)))
        else:
            self._emit(messages, offsets)
        self._check_flow()

    def _check_flow(self) -> None:
        if not self.paused and self.in_flight >= self.maxsize:
            self.paused = True
            self.room.clear()
            self._pause(self)
        elif self.paused and self.in_flight <= self.resume_below:
            self.resume()

    def resume(self) -> None:
        """Fetch this topic's partitions again (called when acks made room)."""
        if self.paused:
            self.paused = False
            self.room.set()
            self._resume(self)

    def _emit(self, messages: Sequence[MessageT], offsets: PartitionOffsets) -> None:
        """Decode each record once and hand it to the subscribers, in order.

        The one-subscriber case (nearly every agent) builds its Events inline, slot by
        slot, as :func:`~rxstreams.runtime.tokens.root` does: it is the hottest loop of
        the library, and a helper call per event costs more than the duplication.
        """
        if offsets.closed:  # held for a partition revoked meanwhile: the new owner has it
            return
        key_loads = self._key_loads
        value_loads = self._value_loads
        ports = self.ports
        if len(ports) != 1:
            self._emit_many(messages, offsets)
            return
        port = ports[0]
        on_next = port.observer.on_next
        for m in messages:
            k = m.key
            v = m.value
            try:
                key = None if k is None else key_loads(k)
                value = None if v is None else value_loads(v)
            except Exception as exc:
                self._undecodable(m, offsets, exc)
                continue
            ev = _new(Event)
            ev.key = key
            ev.value = value
            ev.message = m
            ev._headers = None
            ev._ts = None
            ev._root = None
            ev._owns = True
            ev._pinned = False
            ev._pending = 1
            ev._attempts = 0
            ev._port = port
            ev._keep = None
            ev.offsets = offsets
            on_next(ev)
            if port.closed:  # it unsubscribed while handling that event (a take ended)
                self._rest(messages[messages.index(m) + 1 :], offsets)  # offsets differ
                return

    def _emit_many(self, messages: Sequence[MessageT], offsets: PartitionOffsets) -> None:
        key_loads = self._key_loads
        value_loads = self._value_loads
        snapshot = list(self.ports)
        for i, m in enumerate(messages):
            k = m.key
            v = m.value
            try:
                key = None if k is None else key_loads(k)
                value = None if v is None else value_loads(v)
            except Exception as exc:
                self._undecodable(m, offsets, exc)
                continue
            ev = root(Event, key, value, m, offsets)
            self._fan_out(ev, snapshot)
            if any(p.closed for p in snapshot):
                self._rest(messages[i + 1 :], offsets)
                return

    def _rest(self, messages: Sequence[MessageT], offsets: PartitionOffsets) -> None:
        """The subscribers changed mid-batch: the rest goes to who is there now, or waits."""
        if not messages:
            return
        if self.ports:
            self._emit(messages, offsets)
        else:
            self._held.append((len(messages), partial(self._emit, messages, offsets)))

    def _undecodable(self, m: MessageT, offsets: PartitionOffsets, exc: Exception) -> None:
        """A record whose key or value does not decode: the topic's policy decides."""
        if isinstance(exc, orjson.JSONDecodeError):  # the JSON codec's loads, called directly
            exc = CodecError(f"not valid JSON: {exc}")
        where = f"{m.topic}[{m.partition}]@{m.offset}"
        if not _bad_data(exc):
            raise CodecError(
                f"cannot decode {where}: {exc!r} is a fault of the topic's schema or codec, "
                "not of the record, so on_decode_error does not apply: its offset is not "
                "committed and the app stops (fix the schema or codec)"
            ) from exc
        policy = self.on_decode_error
        if policy == "skip":
            log.warning(
                "message_skipped",
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                error=str(exc),
            )
            offsets.ack(m.offset)
        elif policy == "dead_letter":
            self.worker.dead_letters.record(m, offsets, exc, self.dead_letter_topic)
        else:
            raise CodecError(
                f"cannot decode {where}: {exc}; its offset is not committed (the app stops; "
                "fix the producer or the topic's serializers, or set on_decode_error="
                "'skip' or 'dead_letter' on the topic)"
            ) from exc

    @staticmethod
    def _fan_out(ev: Event[Any, Any], ports: list[Port]) -> None:
        if len(ports) == 1:
            ev._port = ports[0]
            ports[0].observer.on_next(ev)
            return
        for port, view in zip(ports, split(ev, len(ports)), strict=True):
            view._port = port
            port.observer.on_next(view)

    # -- channels -----------------------------------------------------------------------------

    async def wait_for_room(self) -> None:
        """Wait while too many of this channel's events are in flight."""
        while self.paused:
            await self.room.wait()

    def deliver_local(
        self,
        message: MessageT,
        key: Any,
        value: Any,
        headers: Mapping[str, Any] | None,
        timestamp: float,
    ) -> None:
        """Deliver one in-process (channel) event, already decoded."""
        offsets = self.local
        assert offsets is not None, "deliver_local() is for channel sources"
        ev = root(
            Event,
            key,
            value,
            message,
            offsets,
            headers=None if headers is None else dict(headers),
            timestamp=timestamp,
        )
        offsets.delivered([message.offset])
        self.in_flight += 1
        if not self.ports or self._held:
            self._held.append((1, partial(self._emit_local, ev)))
        else:
            self._fan_out(ev, list(self.ports))
        self._check_flow()

    def _emit_local(self, ev: Event[Any, Any]) -> None:
        self._fan_out(ev, list(self.ports))

    def deliver_view(self, view: Event[Any, Any], marker: MessageT) -> None:
        """Deliver ``view`` as it is (one channel source): an event that owns a token on a
        message other streams share (a tee branch, echo or through to a channel).

        Its ack counts for its own message, so that message is committed only once this
        channel's streams are done with it. ``marker`` is a fresh offset of the channel's
        pseudo-partition: a token on it rides in the view's ``keep`` list, so the channel
        counts the view as in flight (flow control, idleness) until the view is acked.
        """
        offsets = self.local
        assert offsets is not None, "deliver_view() is for channel sources"
        mark = root(Event, None, None, marker, offsets, timestamp=0.0)
        offsets.delivered([marker.offset])
        self.in_flight += 1
        if not self.ports or self._held:
            self._held.append((1, partial(self._emit_view, view, mark)))
        else:
            self._emit_view(view, mark)
        self._check_flow()

    def _emit_view(self, view: Event[Any, Any], mark: Event[Any, Any]) -> None:
        if revoked(view):  # revoked meanwhile: the new owners have all it holds
            mark.ack()
            return
        ports = self.ports
        if len(ports) == 1:
            port = ports[0]
            view._port = mark._port = port
            attach(view, mark)
            port.observer.on_next(view)
            return
        ports = list(ports)
        for port, v, m in zip(ports, split(view, len(ports)), split(mark, len(ports)), strict=True):
            v._port = m._port = port
            attach(v, m)
            port.observer.on_next(v)

    def release_held(self) -> int:
        """Drop batches held for a subscriber that never came (on stop/revoke)."""
        dropped = sum(n for n, _ in self._held)
        self._held.clear()
        return dropped


def _bad_data(exc: BaseException) -> bool:
    """Whether a decode error blames the record (CodecError, ValueError) rather than the
    schema or codec (an unsupported Record field type, a NameError, a TypeError...)."""
    if isinstance(exc, CodecError):
        return True
    if isinstance(exc, RxStreamsError):
        return False
    return isinstance(exc, ValueError | LookupError)


def _loads_of(codec: CodecT) -> Callable[[bytes], Any]:
    """The codec's decoding function; for JSON, orjson's own (one Python call less per
    key and value on the hottest path; its errors are translated in ``_undecodable``)."""
    if type(codec) is JSONCodec:
        return orjson.loads
    return codec.loads
