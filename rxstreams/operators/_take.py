"""take: a limited stream, ending after ``max_`` items or ``within`` seconds.

Also home of the two helpers the time operators share: :func:`time_scheduler` (which
scheduler a time operator uses) and :func:`settle` (what happens to events a pipeline
lets go of when it is disposed before processing them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from reactivex import Observable, abc
from reactivex import operators as ops

from .._scheduling import loop_scheduler
from ..errors import ConfigurationError
from ..events import Event
from ..runtime.tokens import pin

__all__ = ("settle", "take", "time_scheduler")


def take(
    max_: int,
    *,
    within: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Any]], Observable[Any]]:
    """The first ``max_`` items, or the items of the first ``within`` seconds; then the end.

    ::

        --a--b--c--d--e--|
        take(3)
        --a--b--(c|)

        --a--b-------c--d--
        take(10, within=5.0)     (the timer starts on subscription)
        --a--b----|

    The stream completes: an agent's ``async for`` over it ends. Coming from Faust: Faust's
    ``take`` yields batches; here batching is :func:`~rxstreams.operators.buffer`.

    Args:
        max_: the most items to deliver (at least 1).
        within: end after this many seconds even if fewer items came (None: no limit).
        scheduler: the scheduler of the ``within`` timer (default: the one given at
            subscription, the running loop's when iterated by an agent).

    Returns:
        An operator for ``Observable[Event]`` (any items work), built on
        ``reactivex.operators.take`` and ``take_with_time``.

    Acks:
        The items it delivers keep their tokens (acked when the agent moves past them).
        Events that still reach it after the end (the rest of a fetched batch; what
        ``buffer`` or ``rate_limit`` upstream still held) are not processed: they are
        acked if another stream of the app still reads their topic (so they never hold
        that stream's commits back), otherwise pinned (left unacked), so the next run of
        the group gets them. After an agent's
        ``async for v in stream.take(3)`` over a topic nobody else reads, the committed
        offset is 3 past the start, whatever the fetch batches were.

    Errors:
        ``ConfigurationError`` when ``max_`` < 1 or ``within`` <= 0. Errors from upstream
        pass through.
    """
    if isinstance(max_, bool) or not isinstance(max_, int) or max_ < 1:
        raise ConfigurationError(f"take() needs max_ >= 1 (an int), not {max_!r}")
    if within is not None and not _positive(within):
        raise ConfigurationError(
            f"take(within=) must be a positive number of seconds, not {within!r}"
        )

    def operator(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            # unsubscribing ends this stream's part: the source hands the rest of a batch
            # it was delivering to the other subscribers, or holds it for the next one
            limited = source
            if within is not None:
                sched = time_scheduler(scheduler, scheduler_)
                limited = source.pipe(ops.take_with_time(within, scheduler=sched))
            return limited.pipe(ops.take(max_)).subscribe(observer, scheduler=scheduler_)

        return Observable(subscribe)

    return operator


def settle(items: Iterable[Any]) -> None:
    """Decide the acks of events a disposed pipeline let go of without processing them.

    Call it after the pipeline's subscription is gone. An event whose topic is still read
    by a stream of the app is acked (that stream decides the commit, like a filter's
    drop); one whose topic nobody in the app reads anymore is pinned (never acked in this
    run), so the offset is not committed past it and the next run of the group gets it,
    like the batches the source holds back once its last subscriber left.
    """
    for item in items:
        if type(item) is Event:
            _settle_one(item)
        elif type(item) is list:
            for e in item:
                if type(e) is Event:
                    _settle_one(e)


def _settle_one(event: Event[Any, Any]) -> None:
    port = event._port
    if port is not None and not port.source.ports:
        pin(event)
    else:
        event.ack()


def time_scheduler(
    given: abc.SchedulerBase | None, at_subscribe: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """The scheduler a time operator uses: the one given, else the subscriber's (an agent's
    bridge passes the running loop's), else the running loop's; never RxPY's thread-based
    default."""
    if given is not None:
        return given
    if at_subscribe is not None:
        return at_subscribe
    return loop_scheduler()


def _loop_scheduler() -> abc.SchedulerBase | None:
    try:
        return loop_scheduler()
    except RuntimeError:
        return None


def _positive(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x > 0 and math.isfinite(x)
