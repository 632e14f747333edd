"""map: transform each value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

from ..events import Event

__all__ = ("map_",)


def map_(
    fun: Callable[[Any], Any],
) -> Callable[[Observable[Event[Any, Any]]], Observable[Event[Any, Any]]]:
    """Replace each event's value with ``fun(value)``, keeping key, headers and metadata.

    ::

        --1--2--3--|
        map(lambda x: x * 10)
        --10-20-30-|

    Args:
        fun: the transform, called with each value.

    Returns:
        An operator for ``Observable[Event]``, built on ``reactivex.operators.map``.

    Acks:
        The new event takes over the old one's token: the message is acked when the new
        event is done with.

    Errors:
        An exception from ``fun`` errors the stream; the event is not acked.
    """

    def apply(event: Event[Any, Any]) -> Event[Any, Any]:
        return event._derive(fun(event.value))

    return ops.map(apply)
