"""Stream operators: reactivex operators over ``Observable[Event]`` that keep the ack rules.

The functions here are the operators that work on the Observable of events alone, so they
can go into :meth:`rxstreams.Stream.pipe` next to reactivex's own operators::

    from reactivex import operators as ops
    from rxstreams import operators as rxs

    stream.pipe(
        ops.distinct_until_changed(lambda event: event.value),
        rxs.filter(lambda v: v > 0),
        rxs.buffer(100, timeout=1.0),
    )

Each one is also a :class:`~rxstreams.Stream` method of the same name
(``stream.filter(...)``), which is usually what an agent calls: the methods give
``filter`` and ``map`` the agent's error policy, and ``buffer`` the check against the
sources' ``stream_buffer_maxsize``. The operators that need the stream itself (its app,
its sources) are Stream methods only: ``group_by``, ``join``, ``combine``, ``concat``,
``tee``, ``through`` and ``echo``.

Each operator lives in its own private module and documents what it does to acks.
"""

from __future__ import annotations

from ._buffer import buffer
from ._filter import filter
from ._map import map
from ._rate_limit import rate_limit
from ._take import take

__all__ = ("buffer", "filter", "map", "rate_limit", "take")
