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
    """This stream's items; once it ends, each of ``others``' items in turn.

    ::

        --a--b--|
                 --1--2--|
        concat
        --a--b-----1--2--|

    Topic streams are hot and only end through ``take``, ``within`` and the like: a
    stream that never ends keeps the next ones waiting forever.

    A later stream is subscribed only when its turn comes. Until then, what its topic or
    channel receives is *held* by the app (not lost, not acked) as long as no other stream
    reads that topic or channel: held messages count as in flight, so fetching of that
    topic pauses at ``stream_buffer_maxsize`` (a channel's senders wait), and everything
    held is delivered when the turn comes. If another stream does read it, the messages
    delivered before the turn went to that stream only: this one sees what arrives after
    its turn came, like any stream created late (and the other stream's acks decide what
    is committed).

    Args:
        stream: the first stream.
        others: the streams that follow, in order, of the same app.

    Returns:
        A Stream of their items in that order (built on ``reactivex.concat``).

    Acks:
        Unchanged: each item keeps the token it came with; a later stream's messages held
        before its turn stay in flight (uncommitted) until delivered and processed.

    Errors:
        ``others`` empty, or of another app: :class:`~rxstreams.errors.ConfigurationError`
        at once; not Streams: :class:`~rxstreams.errors.ArgumentTypeError`. An error of
        the running stream errors the concatenation.
    """
    check_streams(stream, others, "concat")
    chained = reactivex.concat(stream.observable, *(o.observable for o in others))
    return stream._with(chained, sources=frozenset().union(*(o.sources for o in others)))
