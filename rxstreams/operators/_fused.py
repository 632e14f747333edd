"""Consecutive ``filter``/``map`` steps of a Stream, fused into one operator.

``stream.filter(f).map(g).filter(h)`` runs as one reactivex operator whose ``on_next``
applies the steps in turn: one observer layer per chain instead of one per step (each
layer is a Python call per event on the hottest path). Each step keeps the ack rule and
error policy of :func:`~rxstreams.operators.filter` and :func:`~rxstreams.operators.map`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reactivex import Observable, abc

from .._context import StreamContext
from ..errors import ArgumentTypeError
from ..events import Event
from ..runtime.tokens import attach, derive, release

__all__ = ("Step", "check_function", "fused")

#: (True, predicate) for a filter, (False, function) for a map
Step = tuple[bool, Callable[[Any], Any]]


def fused(
    steps: Sequence[Step], ctx: StreamContext | None = None
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """One operator running ``steps`` (filters and plain maps) in order on each event.

    Acks:
        An event a filter step drops is acked at once; a map step's value carries the
        event's token (reusing the Event when it is this stream's alone).

    Errors:
        An exception from a step's function goes to the agent's error policy; by default
        it errors the stream and the event is not acked.
    """
    plan = tuple(steps)

    def operator(source: Observable[Event[Any, Any]]) -> Observable[Event[Any, Any]]:
        def subscribe(
            observer: abc.ObserverBase[Event[Any, Any]],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            forward = observer.on_next

            def on_next(event: Event[Any, Any]) -> None:
                if type(event) is not Event:  # a batch (after buffer), or a pipe()'s value
                    try:
                        item = _not_an_event(event, plan)
                    except Exception as exc:
                        observer.on_error(exc)
                        return
                    if item is not _DROPPED:
                        forward(item)
                    return
                for is_filter, fun in plan:
                    try:
                        result = fun(event.value)
                    except Exception as exc:
                        if ctx is not None and ctx.handle(event, exc):
                            return
                        observer.on_error(exc)
                        return
                    if is_filter:
                        if not result:
                            event.ack()
                            return
                    # tokens.sole(event), inlined: one call less per event on the hot path
                    elif event._root is None and event._pending == 1 and _redecodable(event):
                        event.value = result  # this stream's alone: reuse it
                    else:
                        event = derive(event, result)
                forward(event)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator


_DROPPED: Any = object()


def _not_an_event(item: Any, plan: Sequence[Step]) -> Any:
    """Run the steps on an item that is not one Event: a batch of events (``buffer``) is
    seen as the list of their values, anything else as itself. A filter that drops a batch
    acks its events; a map's value over a batch is an Event holding every event of the
    batch (settled with it). An exception errors the stream (the agent's policy then
    applies to the agent's current item)."""
    for is_filter, fun in plan:
        batch = type(item) is list and bool(item) and all(type(e) is Event for e in item)
        if batch:
            result = fun([e.value for e in item])
        else:
            result = fun(item.value if type(item) is Event else item)
        if is_filter:
            if not result:
                release(item)  # a batch's events, or the event (anything else: nothing)
                return _DROPPED
        elif batch:
            merged = derive(item[0], result)
            for other in item[1:]:
                attach(merged, other)
            item = merged
        elif type(item) is Event:
            item = derive(item, result)
        else:
            item = result
    return item


def check_function(fun: object, what: str) -> None:
    """Raise :class:`~rxstreams.errors.ArgumentTypeError` unless ``fun`` can be called."""
    if not callable(fun):
        raise ArgumentTypeError(f"{what}() takes a function of the value, not {fun!r}")


def _redecodable(event: Event[Any, Any]) -> bool:
    msg = event.message
    return msg is not None and msg.value is not None
