"""Lineage through operators rxstreams does not know (``Stream.pipe``).

While an input event is pushed through the user's reactivex operators, any value they emit
that is not an Event (a ``scan`` accumulator, a ``reduce`` step, a mapped plain value) is
wrapped in an Event forked from that input: it holds a token on the input's message, and a
hold on everything the input keeps (a join result keeps its inputs from the other topics),
so none of them is acked before the derived value is processed. Events and lists of Events
pass through as they are (their own tokens already say what is in flight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reactivex import Observable, abc

from .events import Event
from .runtime.tokens import merge

__all__ = ("lineage",)


def lineage(source: Observable[Any], operators: Sequence[Callable[[Any], Any]]) -> Observable[Any]:
    """``source.pipe(*operators)``, with derived values tied to the events they came from."""
    current: list[Event[Any, Any] | None] = [None]

    def mark(upstream: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(item: Any) -> None:
                previous = current[0]
                current[0] = item if type(item) is Event else None
                try:
                    observer.on_next(item)
                finally:
                    current[0] = previous

            return upstream.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    def tie(upstream: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(item: Any) -> None:
                if type(item) is not Event and not _is_batch(item):
                    parent = current[0]
                    if parent is not None:
                        item = merge(parent, item)  # and what the parent keeps
                observer.on_next(item)

            return upstream.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return tie(mark(source).pipe(*operators))


def _is_batch(item: Any) -> bool:
    return type(item) is list and bool(item) and type(item[0]) is Event
