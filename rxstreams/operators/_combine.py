"""combine: merge streams, items as they arrive from any of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import reactivex

from ..errors import ArgumentTypeError, ConfigurationError

if TYPE_CHECKING:
    from ..streams import Stream

__all__ = ("check_streams", "combine_")


def combine_(stream: Stream[Any], others: Sequence[Stream[Any]]) -> Stream[Any]:
    """Merge this stream with ``others``: every item of each, as it arrives.

    ::

        --a-----b-----c--|
        ----1-----2------|
        combine
        --a-1---b-2---c--|

    Args:
        stream: the first stream.
        others: more streams of the same app.

    Returns:
        A Stream of all their items (built on ``reactivex.merge``), reading the sources of
        all of them; it ends when every one of them has ended.

    Acks:
        Unchanged: each item keeps the token it came with.

    Errors:
        ``others`` empty, or of another app: :class:`~rxstreams.errors.ConfigurationError`
        at once; not Streams: :class:`~rxstreams.errors.ArgumentTypeError`. An error of
        any input errors the combined stream.
    """
    check_streams(stream, others, "combine")
    merged = reactivex.merge(stream.observable, *(o.observable for o in others))
    return stream._with(merged, sources=_sources(others))


def check_streams(stream: Stream[Any], others: Sequence[Any], what: str) -> None:
    """Raise unless ``others`` is a non-empty sequence of Streams of ``stream``'s app."""
    from ..streams import Stream

    if not others:
        raise ConfigurationError(f"{what}() needs at least one other stream")
    for other in others:
        if not isinstance(other, Stream):
            raise ArgumentTypeError(f"{what}() takes Streams, not {other!r} (use topic.stream())")
        if other.app is not stream.app:
            raise ConfigurationError(
                f"{what}(): {other!r} belongs to app {other.app.id!r}, not {stream.app.id!r}"
            )


def _sources(others: Sequence[Stream[Any]]) -> frozenset[Any]:
    return frozenset().union(*(o.sources for o in others))
