"""The commit policy: when acked offsets go to the broker.

Commits happen every ``commit_interval`` seconds, as soon as ``commit_every`` events were
acked, before partitions are revoked, and on a graceful stop. Before each commit the
producer is flushed, so whatever the agents produced from those events is on the broker
before the offsets that led to it are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Mapping

from ._retry import Outage, retrying
from .errors import CommitFailedError
from .logging import get_logger
from .messages import TopicPartition
from .types import ConsumerT

__all__ = ("Committer",)

log = get_logger(__name__)


class Committer:
    """Commits the committable offsets of a set of partitions, on the app's schedule."""

    def __init__(
        self,
        *,
        interval: float,
        every: int | None,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self.interval = interval
        #: the ack counter shared with every PartitionOffsets (see AckSink)
        self.acks = 0
        self._acked_before = 0
        self.every = every if every is not None else sys.maxsize
        self._flush = flush
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.commits = 0
        #: the broker's availability, shared with the fetch loop (see _retry)
        self.outage = Outage()

    @property
    def total_acks(self) -> int:
        """Acks counted so far (``commit_every`` at a time, plus the ones since)."""
        return self._acked_before + self.acks

    def due(self) -> None:
        """Commit soon: enough acks piled up."""
        self._acked_before += self.acks
        self.acks = 0
        self._wake.set()

    async def run(self, commit: Callable[[], Awaitable[object]]) -> None:
        """Commit on every interval, or earlier when :meth:`due` is called."""
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the event is set, and the app's stop would wait forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            # a broker outage is waited out: each retry commits what is committable then
            await retrying(self.outage, "commit", commit)

    async def commit(
        self, consumer: ConsumerT, offsets: Mapping[TopicPartition, int]
    ) -> Mapping[TopicPartition, int]:
        """Flush the producer, then commit ``offsets``; returns what was committed.

        A commit fenced by a rebalance is logged, not raised: those partitions are being
        revoked and their events will be processed again by their new owner.
        """
        if not offsets:
            return {}
        async with self._lock:
            await self._flush()
            try:
                await consumer.commit(offsets)
            except CommitFailedError as exc:
                log.warning("commit_fenced", error=str(exc), offsets=_fmt(offsets))
                return {}
        self.commits += 1
        log.debug("offsets_committed", offsets=_fmt(offsets))
        return offsets


def _fmt(offsets: Mapping[TopicPartition, int]) -> dict[str, int]:
    return {f"{tp.topic}[{tp.partition}]": o for tp, o in offsets.items()}
