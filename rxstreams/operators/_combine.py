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
    """:meth:`Stream.combine <rxstreams.Stream.combine>`: merge ``stream`` with ``others``.

    Built on ``reactivex.merge``; the returned Stream reads the sources of all of them.
    Items keep their tokens. See the method for the diagram, the acks and the errors.
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
