"""concat: one stream's items, then, once it ends, the next stream's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import reactivex

from ._combine import check_streams

if TYPE_CHECKING:
    from ..streams import Stream

__all__ = ("concat_",)


def concat_(stream: Stream[Any], others: Sequence[Stream[Any]]) -> Stream[Any]:
    """:meth:`Stream.concat <rxstreams.Stream.concat>`: ``stream``'s items, then ``others'``.

    Built on ``reactivex.concat``, which subscribes a later stream only when its turn
    comes (its source holds what arrives meanwhile). See the method for the diagram, the
    acks and the errors.
    """
    check_streams(stream, others, "concat")
    chained = reactivex.concat(stream.observable, *(o.observable for o in others))
    return stream._with(chained, sources=frozenset().union(*(o.sources for o in others)))
