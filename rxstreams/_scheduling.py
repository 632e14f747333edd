"""The reactivex scheduler of the running asyncio loop.

reactivex's ``AsyncIOScheduler`` schedules on the loop but tells the time by the wall
clock; operators that read ``scheduler.now`` (delay, timestamp, sample, windows) then mix
two clocks. :class:`LoopScheduler` tells the loop's own time, so every time-based operator
runs on one clock — the one tests make virtual.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ("LoopScheduler", "loop_scheduler")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LoopScheduler(AsyncIOScheduler):
    """``AsyncIOScheduler`` whose ``now`` is the loop's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._clock = loop.time

    @property
    def now(self) -> datetime:
        return _EPOCH + timedelta(seconds=self._clock())


def loop_scheduler() -> LoopScheduler:
    """A scheduler for the running loop."""
    return LoopScheduler(asyncio.get_running_loop())
