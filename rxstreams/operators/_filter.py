"""filter: keep the events whose value passes a predicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable

from .._context import StreamContext
from ..events import Event
from ._fused import check_function, fused

__all__ = ("filter",)


def filter(
    fun: Callable[[Any], bool],
    ctx: StreamContext | None = None,
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """Keep the events for which ``fun(event.value)`` is true.

    ::

        --1--2--3--4--|
        filter(lambda x: x % 2 == 0)
        -----2-----4--|

    Use it in :meth:`~rxstreams.Stream.pipe` (``stream.pipe(rxs.filter(fun))``);
    ``stream.filter(fun)`` does the same and fuses consecutive filter/map steps.

    Args:
        fun: the predicate, called with each value.
        ctx: the error policy for exceptions from ``fun``; ``Stream.filter`` passes the
            stream's, which the agent iterating it sets.

    Returns:
        An operator for ``Observable[Event]``: reactivex's filter with the ack of dropped
        events fused in.

    Acks:
        A dropped event is acked at once; a kept one keeps its token.

    Errors:
        :class:`~rxstreams.errors.ArgumentTypeError` at once when ``fun`` is not callable.
        An exception from ``fun`` goes to the agent's error policy (skip, retry,
        dead-letter) when the operator has it (``stream.filter``); otherwise, and by
        default, it errors the stream and the event is not acked.
    """
    check_function(fun, "filter")
    return fused([(True, fun)], ctx)
