"""map: transform each value, with a plain or an ``async`` function."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops

from .._context import StreamContext
from ..events import Event
from ..runtime.tokens import derive
from ._fused import check_function, fused

__all__ = ("map",)


def map(
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

    Use it in :meth:`~rxstreams.Stream.pipe` (``stream.pipe(rxs.map(fun))``);
    ``stream.map(fun)`` does the same and fuses consecutive filter/map steps.

    Args:
        fun: the transform, called with each value.
        ctx: the error policy for exceptions from ``fun``; ``Stream.map`` passes the
            stream's, which the agent iterating it sets.

    Returns:
        An operator for ``Observable[Event]``: reactivex's map with the ack and error rules
        fused in, ``concat_map`` for async functions.

    Acks:
        The event with the new value carries the same token: the message is acked when it
        is done with. (When the event belongs to this stream alone, the same Event object
        is reused with its new value; otherwise a new one takes over the token.)

    Errors:
        :class:`~rxstreams.errors.ArgumentTypeError` at once when ``fun`` is not callable.
        An exception from ``fun`` goes to the agent's error policy when the operator has
        it (``stream.map``); otherwise, and by default, it errors the stream and the event
        is not acked.
    """
    check_function(fun, "map")
    if inspect.iscoroutinefunction(fun):
        return _map_async(fun, ctx)

    return fused([(False, fun)], ctx)


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
        return derive(event, value)

    def one(event: Event[Any, Any]) -> Observable[Event[Any, Any] | None]:
        return reactivex.defer(lambda _: reactivex.from_future(asyncio.ensure_future(run(event))))

    return reactivex.compose(ops.concat_map(one), ops.filter(_not_none))
