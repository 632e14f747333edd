"""filter: keep the events whose value passes a predicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

from ..events import Event

__all__ = ("filter_",)


def filter_(
    fun: Callable[[Any], bool],
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """Keep the events for which ``fun(event.value)`` is true.

    ::

        --1--2--3--4--|
        filter(lambda x: x % 2 == 0)
        -----2-----4--|

    Args:
        fun: the predicate, called with each value.

    Returns:
        An operator for ``Observable[Event]``, built on ``reactivex.operators.filter``.

    Acks:
        A dropped event is acked at once; a kept one keeps its token.

    Errors:
        An exception from ``fun`` errors the stream (the agent's error policy decides); the
        event it was raised on is not acked.
    """

    def keep(event: Event[Any, Any]) -> bool:
        if fun(event.value):
            return True
        event.ack()
        return False

    return ops.filter(keep)
