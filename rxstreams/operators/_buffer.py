"""buffer: batches (lists) of up to ``size`` events, flushed when full or on a timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable

from ..errors import ConfigurationError
from ._take import _positive, settle, time_scheduler

__all__ = ("buffer",)


def buffer(
    size: int,
    *,
    timeout: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
    max_in_flight: int | None = None,
) -> Callable[[Observable[Any]], Observable[list[Any]]]:
    """Lists of up to ``size`` items; a partial list is flushed ``timeout`` seconds after
    its first item arrived. Never an empty list.

    ::

        --a--b--c--d--e-----------f--|
        buffer(2, timeout=5)
        -----[a,b]-[c,d]----[e]---(f|)      ([e]: 5 s after e; [f]: at the end)

    What ``reactivex.operators.buffer_with_time_or_count`` does, without its costs: that
    one pushes every item through a ``Subject`` per window (a lock and a list copy per
    item, ~2 µs) and ticks every ``timeout`` seconds even when idle. Here an item is a
    list append, and a timer runs only while a partial batch waits (one per batch).

    Args:
        size: the most items per batch (at least 1).
        timeout: seconds the first item of a partial batch waits at most (None: batches
            are only emitted full, or when the stream ends).
        scheduler: the scheduler of the timeout (default: the one given at subscription,
            the running loop's when iterated by an agent).
        max_in_flight: the smallest ``stream_buffer_maxsize`` of the stream's sources, to
            check that a batch can fill before fetching pauses (``Stream.buffer`` passes it).

    Returns:
        An operator for ``Observable[Event]`` giving ``Observable[list[Event]]``.

    Acks:
        Every event of a batch stays in flight until the agent's loop moves past the
        batch (the bridge releases lists); nothing of a partial batch is committed before
        it is processed. When the stream ends, the partial batch is emitted; when its
        subscription is disposed (a ``take`` downstream ended), the partial batch is
        settled like a take's leftovers (acked if another stream reads the topic, else
        left for the next run).

    Errors:
        ``ConfigurationError`` for ``size`` < 1 or ``timeout`` <= 0, and when ``timeout``
        is None and ``size`` is more than a paused source can let fill: a source pauses
        at ``stream_buffer_maxsize`` events in flight and resumes only when at most half
        of that is, so without a timeout a batch of more than ``max_in_flight // 2 + 1``
        could wait forever. An upstream error passes through at once; the events of the
        partial batch are then not acked (the pipeline failed).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"buffer() needs size >= 1 (an int), not {size!r}")
    if timeout is not None and not _positive(timeout):
        raise ConfigurationError(
            f"buffer(timeout=) must be a positive number of seconds, not {timeout!r}"
        )
    if timeout is None and max_in_flight is not None and size > max_in_flight // 2 + 1:
        raise ConfigurationError(
            f"buffer({size}) without a timeout could wait forever: fetching pauses at "
            f"stream_buffer_maxsize={max_in_flight} events in flight and resumes only at "
            f"{max_in_flight // 2}, while a partial batch holds up to {size - 1}; give a "
            f"timeout, use a size of at most {max_in_flight // 2 + 1}, or raise "
            f"stream_buffer_maxsize to at least {2 * (size - 1)}"
        )

    wait = 0.0 if timeout is None else timeout

    def operator(source: Observable[Any]) -> Observable[list[Any]]:
        def subscribe(
            observer: abc.ObserverBase[list[Any]], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            sched = time_scheduler(scheduler, scheduler_) if timeout is not None else None
            batch: list[Any] = []
            timer = SerialDisposable()
            generation = 0
            disposed = False

            def flush_on_time(_: abc.SchedulerBase, gen: Any = None) -> None:
                nonlocal batch
                if gen == generation and batch and not disposed:
                    full, batch = batch, []
                    observer.on_next(full)

            def on_next(item: Any) -> None:
                nonlocal batch, generation
                b = batch
                b.append(item)
                n = len(b)
                if n >= size:
                    batch = []
                    if sched is not None:
                        generation += 1
                        timer.disposable = Disposable()
                    observer.on_next(b)
                elif n == 1 and sched is not None:
                    generation += 1
                    timer.disposable = sched.schedule_relative(wait, flush_on_time, generation)

            def on_error(error: Exception) -> None:
                nonlocal batch
                held, batch = batch, []  # keep them referenced until the failure is known
                timer.dispose()
                observer.on_error(error)
                del held

            def on_completed() -> None:
                nonlocal batch
                timer.dispose()
                rest, batch = batch, []
                if rest:
                    observer.on_next(rest)
                observer.on_completed()

            upstream = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler_)

            def dispose() -> None:
                nonlocal disposed, batch
                disposed = True
                timer.dispose()
                upstream.dispose()
                rest, batch = batch, []
                settle(rest)

            return Disposable(dispose)

        return Observable(subscribe)

    return operator
