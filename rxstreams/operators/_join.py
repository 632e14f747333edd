"""join: a keyed, time-windowed inner join of streams (Kafka Streams' KStream-KStream join)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .._context import StreamContext
from ..errors import AppStateError, ArgumentTypeError, ConfigurationError
from ..events import Event
from ..logging import get_logger
from ..runtime.tokens import merge, pin
from ._combine import check_streams
from ._take import settle

if TYPE_CHECKING:
    from ..streams import Stream

__all__ = ("join_",)

log = get_logger(__name__)


def join_(
    stream: Stream[Any],
    others: Sequence[Stream[Any]],
    *,
    key: Callable[[Any], Any] | None = None,
    within: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Stream[tuple[Any, ...]]:
    """:meth:`Stream.join <rxstreams.Stream.join>`: a keyed, time-windowed inner join.

    The inputs are merged (``reactivex.merge``, each item tagged with its input's
    index) into one :class:`_Windows` per subscription, which keeps each input's window
    as a heap by event time and an idle timer on ``scheduler``. See the method for the
    diagram, the windows' rules, the acks and the errors.
    """
    check_streams(stream, others, "join")
    if within is None:
        raise ConfigurationError("join() needs within=<seconds>: how far apart events may be")
    if isinstance(within, bool) or not isinstance(within, int | float) or not within > 0:
        raise ConfigurationError(f"join(within=...) must be seconds > 0, not {within!r}")
    if key is not None and not callable(key):
        raise ArgumentTypeError(f"join(key=...) must be a function of the value, not {key!r}")
    inputs = [stream, *others]
    limits = [min((s.maxsize for s in i.sources), default=None) for i in inputs]
    observables = [i.observable.pipe(ops.map(partial(_tag, n))) for n, i in enumerate(inputs)]
    span = float(within)
    ctx = stream.ctx

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler_: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        timer_scheduler = scheduler or scheduler_ or _loop_scheduler()
        state = _Windows(len(inputs), span, key, limits, ctx, observer, timer_scheduler)
        subscription = reactivex.merge(*observables).subscribe(
            state.on_next, state.on_error, state.on_completed, scheduler=scheduler_
        )
        return CompositeDisposable(subscription, Disposable(state.dispose))

    sources = frozenset().union(*(o.sources for o in others))
    return stream._with(Observable(subscribe), sources=sources)


def _tag(n: int, item: Any) -> tuple[int, Any]:
    return (n, item)


def _loop_scheduler() -> abc.SchedulerBase:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise AppStateError(
            "join() needs a scheduler for its idle timer: iterate it inside a running event "
            "loop, or pass scheduler="
        ) from None
    return AsyncIOScheduler(loop)


#: a window entry: (timestamp, arrival number, key, event); a heap by timestamp
_Entry = tuple[float, int, Any, Event[Any, Any]]

_INF = float("inf")


class _Windows:
    """The join state of one subscription: each input's window and event-time progress."""

    def __init__(
        self,
        n: int,
        within: float,
        key: Callable[[Any], Any] | None,
        limits: list[int | None],
        ctx: StreamContext,
        observer: abc.ObserverBase[Any],
        scheduler: abc.SchedulerBase,
    ) -> None:
        self.n = n
        self.within = within
        self.key = key
        self.limits = limits
        self.ctx = ctx
        self.observer = observer
        self.scheduler = scheduler
        #: per input: key -> events in the window, in arrival order
        self.windows: list[dict[Any, list[Event[Any, Any]]]] = [{} for _ in range(n)]
        #: per input: the same events, a heap by timestamp (the next to leave first)
        self.heaps: list[list[_Entry]] = [[] for _ in range(n)]
        self.seq = itertools.count()
        #: per input: the newest event time seen
        self.seen = [-_INF] * n
        #: the newest event time of all, moved on by the idle timer when all are quiet
        self.clock = -_INF
        #: per input: an event arrived since the last tick / none during the last period
        self.arrived = [False] * n
        self.quiet = [False] * n
        self.full = [False] * n
        self.timer: abc.DisposableBase | None = None
        self.done = False

    # -- input ----------------------------------------------------------------------------------

    def on_next(self, tagged: tuple[int, Any]) -> None:
        if self.done:
            return
        i, event = tagged
        if type(event) is not Event:
            self._fail(
                ArgumentTypeError(
                    f"join() takes streams of events, not of {type(event).__name__} items "
                    "(join before buffer() or group_by())"
                ),
                None,
            )
            return
        keyfun = self.key
        try:
            k = event.key if keyfun is None else keyfun(event.value)
            hash(k)
        except Exception as exc:
            if self.ctx.handle(event, exc):
                return
            self._fail(exc, event)
            return
        if k is None:
            event.ack()
            return
        ts = event.timestamp
        self.arrived[i] = True
        self.quiet[i] = False
        if ts > self.seen[i]:  # event time moved on: what can no longer join leaves
            self.seen[i] = ts
            if ts > self.clock:
                self.clock = ts
            for j in range(self.n):
                self._evict(j)
        self._emit(i, k, ts, event)
        if ts < self._cutoff(i):  # late: joined with the windows, not kept
            event.ack()
            return
        window = self.windows[i]
        events = window.get(k)
        if events is None:
            window[k] = [event]
        else:
            events.append(event)
        heap = self.heaps[i]
        heapq.heappush(heap, (ts, next(self.seq), k, event))
        limit = self.limits[i]
        if limit is not None and len(heap) >= limit and not self.full[i]:
            self.full[i] = True
            log.warning(
                "join_window_full",
                input=i,
                events=len(heap),
                stream_buffer_maxsize=limit,
                within=self.within,
                hint="fetching of this input pauses until the other inputs or the idle "
                "timer move event time on; raise stream_buffer_maxsize or lower within",
            )
        if self.timer is None:
            self._arm()

    def on_error(self, error: Exception) -> None:
        self._stop()
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self._stop()
        for heap in self.heaps:
            for entry in heap:
                entry[3].ack()
        self._clear()
        self.observer.on_completed()

    def dispose(self) -> None:
        """Unsubscribed (a ``take`` downstream ended, say): what the windows hold was not
        joined yet, so it is settled as unprocessed (acked if another stream of the app
        reads its topic, else pinned so the next run of the group gets it)."""
        self._stop()
        held = [entry[3] for heap in self.heaps for entry in heap]
        self._clear()
        settle(held)

    # -- matching -------------------------------------------------------------------------------

    def _emit(self, i: int, k: Any, ts: float, event: Event[Any, Any]) -> None:
        lists: list[list[Event[Any, Any]]] = []
        for j, window in enumerate(self.windows):
            if j != i:
                events = window.get(k)
                if not events:
                    return
                lists.append(events)
        within = self.within
        on_next = self.observer.on_next
        if self.n == 2:
            for other in lists[0]:
                ots = other.timestamp
                if abs(ots - ts) <= within:
                    pair = (event.value, other.value) if i == 0 else (other.value, event.value)
                    on_next(_result(event, pair, (other,), k, max(ts, ots)))
            return
        for combo in itertools.product(*lists):
            stamps = [ts, *(e.timestamp for e in combo)]
            newest = max(stamps)
            if newest - min(stamps) <= within:
                values = [e.value for e in combo]
                values.insert(i, event.value)
                on_next(_result(event, tuple(values), combo, k, newest))

    # -- leaving the window ---------------------------------------------------------------------

    def _cutoff(self, i: int) -> float:
        """Events of input ``i`` older than this can join nothing still to come."""
        progress = self.clock
        seen, quiet = self.seen, self.quiet
        for j in range(self.n):
            if j != i and not quiet[j] and seen[j] < progress:
                progress = seen[j]
        return progress - self.within

    def _evict(self, i: int) -> None:
        heap = self.heaps[i]
        if not heap:
            return
        cutoff = self._cutoff(i)
        window = self.windows[i]
        while heap and heap[0][0] < cutoff:
            _, _, k, event = heapq.heappop(heap)
            events = window[k]
            if events[0] is event:
                del events[0]
            else:
                del events[next(n for n, e in enumerate(events) if e is event)]
            if not events:
                del window[k]
            event.ack()
        limit = self.limits[i]
        if self.full[i] and limit is not None and len(heap) <= limit // 2:
            self.full[i] = False

    def _arm(self) -> None:
        if not self.done and any(self.heaps):
            self.timer = self.scheduler.schedule_relative(self.within, self._tick)

    def _tick(self, _: abc.SchedulerBase, __: Any = None) -> None:
        self.timer = None
        if self.done:
            return
        arrived, quiet = self.arrived, self.quiet
        for j in range(self.n):
            quiet[j] = not arrived[j]
            arrived[j] = False
        if all(quiet):  # a whole period without events: event time moves on with the clock
            self.clock += self.within
        for j in range(self.n):
            self._evict(j)
        self._arm()

    def _fail(self, exc: Exception, event: Event[Any, Any] | None) -> None:
        if event is not None:
            pin(event)
        self._stop()
        self.observer.on_error(exc)

    def _stop(self) -> None:
        self.done = True
        timer, self.timer = self.timer, None
        if timer is not None:
            timer.dispose()

    def _clear(self) -> None:
        for heap in self.heaps:
            heap.clear()
        for window in self.windows:
            window.clear()


def _result(
    event: Event[Any, Any],
    values: tuple[Any, ...],
    others: Sequence[Event[Any, Any]],
    key: Any,
    ts: float,
) -> Event[Any, tuple[Any, ...]]:
    result = merge(event, values, list(others))
    result.key = key
    result._ts = ts
    return result
