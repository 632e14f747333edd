"""Windowed tables (Faust's ``table.tumbling(...)`` / ``table.hopping(...)``), on event time.

A windowed table keeps one value per key and window, in its table under the key
``(key, window start)`` (the changelog key is the window start, 8 bytes of milliseconds,
then the key as the table encodes it). An agent's ``wt[key] += 1`` updates every window
the event's timestamp falls in; ``wt[key].current()`` reads the newest of them.

**Event time.** Each table partition has a *stream time*: the highest event timestamp
written to it. A window *closes* once the stream time passes its end plus ``grace``:
``on_window_close((key, (start, end)), value)`` is called then (from the agent's write
that moved the stream time). An event whose windows are all closed is *late*: it changes
nothing, is counted (``late``, and logged), and goes to ``on_late(key, event)`` if given
— never silently into a closed window. A window is deleted from the table (a tombstone
in the changelog) once the stream time passes its end plus ``expires`` (default: its
size plus ``grace``, kept at least until it closed).

**Quiet streams.** With ``idle=seconds``, a partition that got no write for that long on
the wall clock has its stream time moved on with the wall clock, so its last windows
close (and ``on_window_close`` runs, from a timer of the worker) without waiting for the
next event; an event that comes later for a window closed that way is late.

After recovery the windows still in the table are tracked again, and the stream time
restarts at the newest window start found; a window that closed before a crash may close
(and call ``on_window_close``) once more: at least once.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..errors import AppStateError, ConfigurationError
from ..events import _current_item
from ..logging import get_logger
from ..types import CodecT
from .windows import HoppingWindow

if TYPE_CHECKING:
    from .table import Table

__all__ = ("WindowKeyCodec", "WindowSet", "WindowedTable")

K = TypeVar("K")
V = TypeVar("V")

log = get_logger(__name__)

_START = struct.Struct(">q")
#: log a late event this often (the first one, then every Nth)
_LATE_LOG_EVERY = 1000

WindowClose = Callable[[tuple[Any, tuple[float, float]], Any], Any]
LateHandler = Callable[[Any, Any], Any]


class WindowKeyCodec:
    """``(key, start)`` as 8 bytes of the start in milliseconds, then the key's bytes."""

    __slots__ = ("inner",)

    def __init__(self, inner: CodecT) -> None:
        self.inner = inner

    def dumps(self, obj: Any) -> bytes:
        key, start = obj
        return _START.pack(round(start * 1000)) + self.inner.dumps(key)

    def loads(self, data: bytes) -> Any:
        (millis,) = _START.unpack_from(data)
        return (self.inner.loads(data[_START.size :]), millis / 1000)


class WindowSet(Generic[K, V]):
    """The windows of one key, as ``wt[key]`` returns them (Faust's WindowSet)."""

    __slots__ = ("key", "table")

    def __init__(self, table: WindowedTable[K, V], key: K) -> None:
        self.table = table
        self.key = key

    def current(self) -> V:
        """The value of the newest window of the event being processed."""
        return cast(V, self.table._read(self.key, self.table._event_time("current()")))

    def now(self) -> V:
        """The value of the newest window of the wall clock's now."""
        return cast(V, self.table._read(self.key, time.time()))

    def value(self) -> V:
        """``current()`` inside an agent processing an event, else ``now()``."""
        event = _event()
        return cast(
            V, self.table._read(self.key, time.time() if event is None else event.timestamp)
        )

    def delta(self, seconds: float) -> V:
        """The value of the window ``seconds`` before the current event's (or now's)."""
        event = _event()
        base = time.time() if event is None else event.timestamp
        return cast(V, self.table._read(self.key, base - seconds))

    def __iadd__(self, other: Any) -> WindowSet[K, V]:
        self.table._apply(self.key, lambda v: v + other)
        return self

    def __isub__(self, other: Any) -> WindowSet[K, V]:
        self.table._apply(self.key, lambda v: v - other)
        return self

    def __imul__(self, other: Any) -> WindowSet[K, V]:
        self.table._apply(self.key, lambda v: v * other)
        return self

    def __repr__(self) -> str:
        return f"<WindowSet {self.key!r} of {self.table.table.name}>"


class WindowedTable(Generic[K, V]):
    """A table of values per key and window; made by ``Table.tumbling/hopping``."""

    def __init__(
        self,
        table: Table[Any, Any],
        window: HoppingWindow,
        *,
        expires: float | None = None,
        grace: float = 0.0,
        on_window_close: WindowClose | None = None,
        on_late: LateHandler | None = None,
        idle: float | None = None,
    ) -> None:
        if table.app.state != "init" or table.pending or table.active:
            raise AppStateError(
                f"table {table.name!r} is in use: make it windowed where it is declared"
            )
        if not isinstance(grace, int | float) or isinstance(grace, bool) or grace < 0:
            raise ConfigurationError(f"grace must be >= 0 seconds, got {grace!r}")
        keep = window.size + grace
        if expires is not None and (not isinstance(expires, int | float) or expires < keep):
            raise ConfigurationError(
                f"expires ({expires!r}) of table {table.name!r} must be at least the window "
                f"size plus grace ({keep}s): a window is kept until it closed"
            )
        if idle is not None and (not isinstance(idle, int | float) or not idle > 0):
            raise ConfigurationError(f"idle must be > 0 seconds, got {idle!r}")
        for name, fun in (("on_window_close", on_window_close), ("on_late", on_late)):
            if fun is not None and not callable(fun):
                raise ConfigurationError(f"{name} must be a function, not {fun!r}")
        self.table = table
        self.window = window
        self.grace = float(grace)
        self.expires = float(expires) if expires is not None else keep
        self.on_window_close = on_window_close
        self.on_late = on_late
        #: events that came after all their windows had closed
        self.late = 0
        self._stream_time: dict[int, float] = {}
        # per partition: (close time, n, key, start) and (delete time, n, key, start)
        self._closing: dict[int, list[tuple[float, int, Any, float]]] = {}
        self._expiring: dict[int, list[tuple[float, int, Any, float]]] = {}
        self._n = itertools.count()
        #: per partition: (loop time, stream time) of its last write
        self._written: dict[int, tuple[float, float]] = {}
        self.idle = idle
        if idle is not None:
            table.app.timer(min(idle / 2, 1.0), name=f"{table.name}:idle-windows")(self._close_idle)
        table.changelog.key_codec = WindowKeyCodec(table.changelog.key_codec)
        table.on_recovered.append(self._recovered)
        table.on_released.append(self._released)

    # -- reading ----------------------------------------------------------------------------

    def __getitem__(self, key: K) -> WindowSet[K, V]:
        return WindowSet(self, key)

    def _read(self, key: Any, timestamp: float) -> Any:
        start = self.window.start_of(timestamp)
        value = self.table.get((key, start))
        if value is None and self.table.default is not None:
            return self.table.default()
        return value

    def _event_time(self, doing: str) -> float:
        event = _event()
        if event is None:
            raise AppStateError(
                f"{doing} of table {self.table.name!r} outside an agent processing an "
                "event: use now() or value()"
            )
        return float(event.timestamp)

    def stream_time(self, partition: int) -> float | None:
        """The highest event timestamp written to ``partition`` (None before any)."""
        return self._stream_time.get(partition)

    def windows(self, key: K) -> dict[tuple[float, float], V]:
        """Every window of ``key`` this worker holds: ``(start, end) -> value``."""
        size = self.window.size
        return {
            (start, start + size): value for (k, start), value in self.table.items() if k == key
        }

    # -- writing ----------------------------------------------------------------------------

    def __setitem__(self, key: K, value: Any) -> None:
        if isinstance(value, WindowSet) and value.table is self and value.key == key:
            return  # ``wt[k] += 1``: the WindowSet already wrote every window
        self._apply(key, lambda _: value)

    def _apply(self, key: Any, change: Callable[[Any], Any]) -> None:
        event = _event()
        message = None if event is None else event.message
        if event is None or message is None:
            raise AppStateError(
                f"writing table {self.table.name!r} outside an agent processing an event: "
                "a window is chosen by the event's timestamp"
            )
        partition = message.partition
        ts = float(event.timestamp)
        stream_time = self._stream_time.get(partition)
        if stream_time is None or ts > stream_time:
            stream_time = self._stream_time[partition] = ts
        size, grace = self.window.size, self.grace
        table = self.table
        default = table.default
        applied = False
        for start in self.window.starts(ts):
            if start + size + grace <= stream_time:
                continue  # closed already: never written again
            k = (key, start)
            old = table.get(k)
            if old is None:
                old = default() if default is not None else None
                self._track(partition, key, start)
            table[k] = change(old)
            applied = True
        if not applied:
            self._late(key, event, ts, stream_time)
        self._written[partition] = (_loop_time(), stream_time)
        self._advance(partition, stream_time)

    def _track(self, partition: int, key: Any, start: float) -> None:
        n = next(self._n)
        end = start + self.window.size
        heapq.heappush(self._closing.setdefault(partition, []), (end + self.grace, n, key, start))
        heapq.heappush(
            self._expiring.setdefault(partition, []), (end + self.expires, n, key, start)
        )

    def _advance(self, partition: int, stream_time: float) -> None:
        """Close, then delete, the windows the stream time passed."""
        closing = self._closing.get(partition)
        size = self.window.size
        data = self.table.store.partition(partition)
        while closing and closing[0][0] <= stream_time:
            _, _, key, start = heapq.heappop(closing)
            if self.on_window_close is not None:
                value = data.get((key, start))
                self._call(self.on_window_close, (key, (start, start + size)), value)
        expiring = self._expiring.get(partition)
        while expiring and expiring[0][0] <= stream_time:
            _, _, key, start = heapq.heappop(expiring)
            self.table._delete_in(partition, (key, start))

    async def _close_idle(self) -> None:
        """The timer of ``idle``: move the stream time of quiet partitions on."""
        idle = self.idle
        assert idle is not None
        now = _loop_time()
        for partition in sorted(self.table.active):
            written = self._written.get(partition)
            if written is None:
                continue
            at, stream_time = written
            if now - at < idle:
                continue
            moved = stream_time + (now - at)
            if moved > self._stream_time.get(partition, moved):
                self._stream_time[partition] = moved
            self._advance(partition, self._stream_time[partition])

    def _late(self, key: Any, event: Any, ts: float, stream_time: float) -> None:
        self.late += 1
        if self.late % _LATE_LOG_EVERY == 1 or _LATE_LOG_EVERY == 1:
            log.warning(
                "late_event_dropped",
                table=self.table.name,
                key=repr(key)[:80],
                timestamp=ts,
                stream_time=stream_time,
                late=self.late,
            )
        if self.on_late is not None:
            self._call(self.on_late, key, event)

    def _call(self, fun: Callable[..., Any], *args: Any) -> None:
        result = fun(*args)
        if inspect.isawaitable(result):  # an async callback runs as a task of the worker
            self.table.app.worker.spawn(_awaited(result), f"{self.table.name}:callback")

    # -- lifecycle ----------------------------------------------------------------------------

    def _recovered(self, partitions: set[int]) -> None:
        """Track the windows recovered from the changelog again."""
        for partition in partitions:
            self._closing.pop(partition, None)
            self._expiring.pop(partition, None)
            newest = None
            for key, start in list(self.table.store.partition(partition)):
                self._track(partition, key, start)
                newest = start if newest is None or start > newest else newest
            if newest is not None:
                self._stream_time[partition] = newest

    def _released(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._closing.pop(partition, None)
            self._expiring.pop(partition, None)
            self._stream_time.pop(partition, None)
            self._written.pop(partition, None)

    def __repr__(self) -> str:
        return (
            f"<WindowedTable {self.table.name} size={self.window.size} "
            f"step={self.window.step} grace={self.grace} late={self.late}>"
        )


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _event() -> Any:
    item = _current_item()
    if type(item) is list:
        item = item[-1] if item else None
    return item if getattr(item, "timestamp", None) is not None else None


async def _awaited(result: Any) -> None:
    await result
