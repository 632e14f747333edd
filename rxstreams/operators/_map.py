"""map: transform each value, with a plain or an ``async`` function."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from .._context import StreamContext
from ..events import Event

__all__ = ("map_",)


def map_(
    fun: Callable[[Any], Any],
    ctx: StreamContext | None = None,
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """Replace each event's value with ``fun(value)``, keeping key, headers and metadata.

    ::

        --1--2--3--|
        map(lambda x: x * 10)
        --10-20-30-|

    An ``async def`` function is awaited, one event at a time, in order (built on
    ``concat_map``); events waiting their turn stay in flight.

    Args:
        fun: the transform, called with each value.
        ctx: the stream's error policy for exceptions from ``fun``.

    Returns:
        An operator for ``Observable[Event]``: ``reactivex.operators.map`` with the error
        policy fused in (``concat_map`` for async functions).

    Acks:
        The event with the new value carries the same token: the message is acked when it
        is done with. (When the event belongs to this stream alone, the same Event object
        is reused with its new value; otherwise a new one takes over the token.)

    Errors:
        An exception from ``fun`` goes to the agent's error policy; by default it errors
        the stream and the event is not acked.
    """
    if inspect.iscoroutinefunction(fun):
        return _map_async(fun, ctx)

    def operator(source: Observable[Event[Any, Any]]) -> Observable[Event[Any, Any]]:
        # reactivex's map plus the error policy, fused: one Python call per event less
        def subscribe(
            observer: abc.ObserverBase[Event[Any, Any]], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            forward = observer.on_next

            def on_next(event: Event[Any, Any]) -> None:
                try:
                    value = fun(event.value)
                except Exception as exc:
                    if ctx is not None and ctx.handle(event, exc):
                        return
                    observer.on_error(exc)
                    return
                if event._root is None and event._pending == 1 and _redecodable(event):
                    # the event is this stream's alone: reuse it (a redelivery decodes
                    # the original value from the message bytes again)
                    event.value = value
                    forward(event)
                else:
                    forward(event._derive(value))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator


def _redecodable(event: Event[Any, Any]) -> bool:
    msg = event.message
    return msg is not None and msg.value is not None


def _not_none(item: Any) -> bool:
    return item is not None


def _map_async(
    fun: Callable[[Any], Any], ctx: StreamContext | None
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    async def run(event: Event[Any, Any]) -> Event[Any, Any] | None:
        try:
            value = await fun(event.value)
        except Exception as exc:
            if ctx is not None and ctx.handle(event, exc):
                return None
            raise
        return event._derive(value)

    def one(event: Event[Any, Any]) -> Observable[Event[Any, Any] | None]:
        return reactivex.defer(lambda _: reactivex.from_future(asyncio.ensure_future(run(event))))

    return reactivex.compose(ops.concat_map(one), ops.filter(_not_none))
