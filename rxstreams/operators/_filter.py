"""filter: keep the events whose value passes a predicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable

from .._context import StreamContext
from ..events import Event
from ._fused import fused

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
        An operator for ``Observable[Event]``: a one-step :func:`~._fused.fused`
        (reactivex's filter with the ack of dropped events fused in).

    Acks:
        A dropped event is acked at once; a kept one keeps its token.

    Errors:
        An exception from ``fun`` goes to the agent's error policy (skip, retry,
        dead-letter); by default it errors the stream and the event is not acked.
    """

    return fused([(True, fun)], ctx)
