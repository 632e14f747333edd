"""rate_limit: delay items so that at most ``rate`` pass per ``per`` seconds; never drop."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable

from ..errors import ConfigurationError
from ._take import _positive, settle, time_scheduler

__all__ = ("rate_limit",)

#: the shortest refill step, in seconds: above 1000 tokens/s, tokens come in 1 ms steps
MIN_STEP = 0.001


def rate_limit(
    rate: float,
    *,
    per: float = 1.0,
    within: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Delay items to at most ``rate`` per ``per`` seconds, in order, dropping none.

    ::

        --abcde--------------------|
        rate_limit(2, per=1, within=1)
        --ab----c----d----e--------|      (c at +0.5 s, d at +1 s, e at +1.5 s)

    A token bucket: it earns ``rate / per`` tokens per second and holds at most the tokens
    earned over ``within`` seconds (default ``within = per``, i.e. ``rate`` tokens; never
    less than one). An item passes at once when a token is available and no earlier
    item waits; otherwise it waits its turn. So the long-run rate is ``rate / per``, and
    bursts (after a quiet spell) are at most the bucket's size: any ``per`` seconds see at
    most ``rate`` + that many items. A smaller ``within`` smooths bursts;
    ``within = per / rate`` (a bucket of one) spaces items evenly.

    Tokens are earned in steps of one (above 1000 tokens per second, in 1 ms steps), by a
    timer that runs only while the bucket is not full: no per-item timer or clock read.

    Args:
        rate: items per ``per`` seconds (> 0).
        per: the period, in seconds (> 0).
        within: the bucket's size in seconds of earning (> 0; default ``per``).
        scheduler: the scheduler of the timer (default: the one given at subscription,
            the running loop's when iterated by an agent).

    Returns:
        An operator for ``Observable[Event]`` (any items work), same items, delayed.

    Acks:
        Nothing is dropped: a waiting event stays in flight until it passes and the agent
        moves past it. Waiting events count against ``stream_buffer_maxsize``, so with a
        fast producer the source pauses fetching instead of this queue growing without
        bound. When the stream ends, what waits is still delivered (then the end); when
        the subscription is disposed (a ``take`` downstream ended), the waiting events
        are settled like a take's leftovers (acked if another stream reads the topic,
        else left for the next run).

    Errors:
        ``ConfigurationError`` for a ``rate``, ``per`` or ``within`` that is not a
        positive number. An upstream error passes through at once; waiting events are
        then not acked (the pipeline failed).
    """
    for what, x in (("rate", rate), ("per", per), ("within", within)):
        if (x is not None or what != "within") and not _positive(x):
            raise ConfigurationError(f"rate_limit({what}=) must be a positive number, not {x!r}")
    speed = rate / per  # tokens per second
    capacity = max(1.0, speed * (per if within is None else within))
    if 1.0 / speed >= MIN_STEP:
        step, gain = 1.0 / speed, 1.0
    else:
        step = min(MIN_STEP, capacity / speed)
        gain = step * speed

    def operator(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            sched = time_scheduler(scheduler, scheduler_)
            waiting: deque[Any] = deque()
            tokens = capacity
            timer = SerialDisposable()
            ticking = False
            completed = False
            disposed = False

            def refill(_: abc.SchedulerBase, __: Any = None) -> None:
                nonlocal tokens, ticking
                tokens = min(capacity, tokens + gain)
                # after a wait of one step a token is due: pass one at least (float dust)
                if waiting and tokens < 1.0:
                    tokens = 1.0
                while waiting and tokens >= 1.0 and not disposed:
                    tokens -= 1.0
                    observer.on_next(waiting.popleft())
                if disposed:
                    return
                if completed and not waiting:
                    ticking = False
                    observer.on_completed()
                elif tokens < capacity or waiting:
                    timer.disposable = sched.schedule_relative(step, refill)
                else:
                    ticking = False

            def on_next(item: Any) -> None:
                nonlocal tokens, ticking
                if waiting or tokens < 1.0:
                    waiting.append(item)
                else:
                    tokens -= 1.0
                    observer.on_next(item)
                if not ticking and not disposed:
                    ticking = True
                    timer.disposable = sched.schedule_relative(step, refill)

            def on_error(error: Exception) -> None:
                held = list(waiting)  # keep them referenced until the failure is known
                waiting.clear()
                timer.dispose()
                observer.on_error(error)
                del held

            def on_completed() -> None:
                nonlocal completed
                if waiting:
                    completed = True  # refill() completes once they all passed
                else:
                    timer.dispose()
                    observer.on_completed()

            upstream = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler_)

            def dispose() -> None:
                nonlocal disposed
                disposed = True
                timer.dispose()
                upstream.dispose()
                rest = list(waiting)
                waiting.clear()
                settle(rest)

            return Disposable(dispose)

        return Observable(subscribe)

    return operator
