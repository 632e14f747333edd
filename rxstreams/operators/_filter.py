"""filter: keep the events whose value passes a predicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from .._context import StreamContext
from ..events import Event

__all__ = ("filter_",)


def filter_(
    fun: Callable[[Any], bool],
    ctx: StreamContext | None = None,
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """Keep the events for which ``fun(event.value)`` is true.

    ::

        --1--2--3--4--|
        filter(lambda x: x % 2 == 0)
        -----2-----4--|

    Args:
        fun: the predicate, called with each value.
        ctx: the stream's error policy for exceptions from ``fun``.

    Returns:
        An operator for ``Observable[Event]``: ``reactivex.operators.filter`` with the ack of
        dropped events fused in.

    Acks:
        A dropped event is acked at once; a kept one keeps its token.

    Errors:
        An exception from ``fun`` goes to the agent's error policy (skip, retry,
        dead-letter); by default it errors the stream and the event is not acked.
    """

    def operator(source: Observable[Event[Any, Any]]) -> Observable[Event[Any, Any]]:
        # reactivex's own filter would need a wrapper to ack what it drops: one more
        # Python call per event on the hottest path; this is the same operator, fused
        def subscribe(
            observer: abc.ObserverBase[Event[Any, Any]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            forward = observer.on_next

            def on_next(event: Event[Any, Any]) -> None:
                try:
                    keep = fun(event.value)
                except Exception as exc:
                    if ctx is not None and ctx.handle(event, exc):
                        return
                    observer.on_error(exc)
                    return
                if keep:
                    forward(event)
                else:
                    event.ack()

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
