"""Event: one message in a stream, with its metadata and its ack.

Acks use tokens (see :mod:`rxstreams.runtime.tokens`, the one module that moves them): a
message delivered to ``k`` streams gets ``k`` tokens, and it is acked when every token is
settled, explicitly (the agent's loop moved past the event, ``event.ack()``, an operator
dropped it) or implicitly (the last reference to an event that still owns its token went
away). An event whose processing failed is *pinned*: never acked implicitly, so commits
stop before it and it is delivered again after a restart.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ._display import html_table, short, when
from .errors import EventError, NoCurrentEventError, RejectedTooOftenError
from .messages import Headers
from .runtime.tokens import Ackable, derive, pin
from .types import MessageT

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


class Event(Ackable, Generic[K, V]):
    """A key, a value, headers and a timestamp, and the ack of the message they came from.

    Events created by users (``Event(key=..., value=...)``) carry no message and no ack;
    they exist to be sent with :meth:`send`.
    """

    __slots__ = ("_headers", "_ts", "key", "value")

    key: K
    value: V

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
        self._root = None
        self._owns = False
        self._pinned = False
        self._pending = 0
        self._attempts = 0
        self._port = None
        self._keep = None
        self.offsets = None

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
            pin(self)
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
        again = derive(self, original)
        again.key = root.key
        again._headers = root._headers
        port.redeliver(again)

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
