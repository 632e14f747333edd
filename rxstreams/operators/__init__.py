"""Stream operators: reactivex operators over ``Observable[Event]`` that keep the ack rules.

Each operator lives in its own module and documents what it does to acks. They are used by
:class:`rxstreams.Stream`'s methods and can be used directly with ``stream.pipe()``.
"""

from __future__ import annotations

from ._filter import filter_
from ._map import map_

__all__ = ("filter_", "map_")
