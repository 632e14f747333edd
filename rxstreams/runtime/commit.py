"""Commit: when acked offsets go to the broker, and what happens first.

Commits happen every ``commit_interval`` seconds, as soon as ``commit_every`` events were
acked, before partitions are revoked, and on a graceful stop. A commit takes each
partition's committable offset (1 + its contiguous acked prefix), tells the lifecycle
participants (``on_commit``: the producer flushes, so whatever the agents produced from
those events is on the broker before the offsets that led to it), then commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping

from ..errors import CommitFailedError
from ..logging import get_logger
from ..messages import TopicPartition
from ..types import ConsumerT
from .lifecycle import Lifecycle
from .offsets import PartitionOffsets
from .retry import Outage, retrying
from .transactions import Transactions

__all__ = ("Committer",)

log = get_logger(__name__)


class Committer:
    """Commits the committable offsets of the worker's partitions, on its schedule."""

    def __init__(
        self,
        offsets: Mapping[TopicPartition, PartitionOffsets],
        lifecycle: Lifecycle,
        *,
        interval: float,
        every: int | None,
    ) -> None:
        self.offsets = offsets
        self.lifecycle = lifecycle
        self.interval = interval
        self.consumer: ConsumerT | None = None
        #: the ack counter shared with every PartitionOffsets (see AckSink)
        self.acks = 0
        self._acked_before = 0
        self.every = every if every is not None else sys.maxsize
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.commits = 0
        #: the broker's availability, shared with the fetch loop (see runtime/retry.py)
        self.outage = Outage()
        #: exactly-once: offsets are committed in the worker's transaction
        self.transactions: Transactions | None = None

    @property
    def total_acks(self) -> int:
        """Acks counted so far (``commit_every`` at a time, plus the ones since)."""
        return self._acked_before + self.acks

    def due(self) -> None:
        """Commit soon: enough acks piled up."""
        self._acked_before += self.acks
        self.acks = 0
        self._wake.set()

    async def run(self) -> None:
        """Commit on every interval, or earlier when :meth:`due` is called."""
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the event is set, and the app's stop would wait forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            # a broker outage is waited out: each retry commits what is committable then
            await retrying(self.outage, "commit", self.commit)

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets acked since the last commit, per partition."""
        out: dict[TopicPartition, int] = {}
        for tp, po in self.offsets.items():
            c = po.to_commit()
            if c is not None:
                out[tp] = c
        return out

    async def commit(
        self, *, final: bool = False, wait: float | None = None
    ) -> Mapping[TopicPartition, int]:
        """Commit what is committable now; returns what was committed.

        A commit fenced by a rebalance is logged, not raised: those partitions are being
        revoked and their events will be processed again by their new owner.
        ``final`` (before partitions are revoked, and on stop) matters for exactly-once: a
        transaction that cannot be committed then is aborted rather than put off;
        ``wait`` bounds its wait for the events in flight.
        """
        consumer = self.consumer
        if consumer is None:
            return {}
        async with self._lock:
            if self.transactions is not None:
                offsets = await self.transactions.commit(
                    consumer, self.committable, final=final, wait=wait
                )
                self._committed(offsets)
                return offsets
            offsets = self.committable()
            if not offsets:
                return {}
            await self.lifecycle.commit(offsets)
            try:
                await consumer.commit(offsets)
            except CommitFailedError as exc:
                log.warning("commit_fenced", error=str(exc), offsets=_fmt(offsets))
                return {}
            self._committed(offsets)
        return offsets

    def _committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        for tp, o in offsets.items():
            po = self.offsets.get(tp)
            if po is not None:
                po.committed = o
        self.commits += 1
        log.debug("offsets_committed", offsets=_fmt(offsets))


def _fmt(offsets: Mapping[TopicPartition, int]) -> dict[str, int]:
    return {f"{tp.topic}[{tp.partition}]": o for tp, o in offsets.items()}
