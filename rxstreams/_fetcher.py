"""The fetch loop: from the group consumer's batches to the topics' hot Observables.

It owns the app's group consumer, listens to rebalances (committing acked work before
partitions are revoked, dropping the in-flight events of revoked partitions), pauses and
resumes partitions for the sources' flow control, and says which offsets can be committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from ._commit import Committer
from ._offsets import PartitionOffsets
from ._retry import retrying
from ._source import Source
from .errors import TransportError
from .logging import get_logger
from .messages import TopicPartition
from .types import ConsumerT

__all__ = ("Fetcher",)

log = get_logger(__name__)


class Fetcher:
    """Feeds the app's topic sources from one consumer-group member."""

    def __init__(
        self,
        sources: Mapping[str, Source],
        committer: Committer,
        *,
        max_records: int,
        timeout: float,
        on_revoked: Callable[[frozenset[TopicPartition]], None],
    ) -> None:
        self.sources = sources
        self.committer = committer
        self.outage = committer.outage
        self.max_records = max_records
        self.timeout = timeout
        self._on_revoked = on_revoked
        self.consumer: ConsumerT | None = None
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        #: set after a fetch found nothing to do; cleared by every non-empty fetch
        self.idle = asyncio.Event()
        self.assigned = asyncio.Event()
        self.rebalances = 0

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Fetch batches and hand them to the sources until cancelled."""
        consumer = self.consumer
        assert consumer is not None
        sources = self.sources
        offsets = self.offsets
        while True:
            batches = await retrying(
                self.outage,
                "fetch",
                consumer.getmany,
                timeout=self.timeout,
                max_records=self.max_records,
            )
            if not batches:
                if self.assigned.is_set() and self.caught_up():
                    self.idle.set()
                continue
            self.idle.clear()
            for tp, messages in batches.items():
                po = offsets.get(tp)
                if po is None or po.closed or not messages:
                    continue
                sources[tp.topic].deliver(messages, po)

    def caught_up(self) -> bool:
        """Every assigned partition was read to its end (as far as the broker said)."""
        consumer = self.consumer
        if consumer is None:
            return False
        for tp in self.offsets:
            end = consumer.highwater(tp)
            position = consumer.position(tp)
            if end is None or position is None or position < end:
                return False
        return True

    # -- commits ------------------------------------------------------------------------------

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets acked since the last commit, per partition."""
        out: dict[TopicPartition, int] = {}
        for tp, po in self.offsets.items():
            c = po.to_commit()
            if c is not None:
                out[tp] = c
        return out

    async def commit(self) -> Mapping[TopicPartition, int]:
        """Commit what is committable now."""
        consumer = self.consumer
        if consumer is None:
            return {}
        done = await self.committer.commit(consumer, self.committable())
        for tp, o in done.items():
            po = self.offsets.get(tp)
            if po is not None:
                po.committed = o
        return done

    # -- flow control -------------------------------------------------------------------------

    def pause(self, source: Source) -> None:
        if self.consumer is not None:
            self.consumer.pause([tp for tp in self.offsets if tp.topic == source.name])
            log.debug("topic_paused", topic=source.name, in_flight=source.in_flight)

    def resume(self, source: Source) -> None:
        if self.consumer is not None:
            self.consumer.resume([tp for tp in self.offsets if tp.topic == source.name])
            log.debug("topic_resumed", topic=source.name, in_flight=source.in_flight)

    # -- RebalanceListenerT -------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Commit acked work, then forget the revoked partitions' in-flight events."""
        self.assigned.clear()
        self.idle.clear()
        try:
            await self.commit()
        except TransportError as exc:
            if not exc.retriable:
                raise
            # the broker went away again mid-rebalance: the acked work of these partitions
            # is not committed, so their next owner processes it again (at least once)
            log.warning("commit_before_revoke_failed", error=str(exc))
        gone = frozenset(tp for tp in revoked if tp in self.offsets)
        for tp in gone:
            po = self.offsets.pop(tp)
            dropped = po.close()
            source = self.sources.get(tp.topic)
            if source is not None:
                source.in_flight -= dropped
                if source.paused and source.in_flight <= source.resume_below:
                    source.resume()
        if gone:
            self._on_revoked(gone)
        log.info("partitions_revoked", partitions=sorted(_names(gone)))

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """Start tracking the new partitions from the group's committed offsets."""
        consumer = self.consumer
        assert consumer is not None
        self.rebalances += 1
        mine = [tp for tp in assigned if tp.topic in self.sources]
        committed = await asyncio.gather(
            *(retrying(self.outage, "fetch_committed", consumer.committed, tp) for tp in mine)
        )
        for tp, offset in zip(mine, committed, strict=True):
            self.offsets[tp] = PartitionOffsets(tp, self.sources[tp.topic], self.committer, offset)
        paused = [
            tp for tp in assigned if tp.topic in self.sources and self.sources[tp.topic].paused
        ]
        if paused:
            consumer.pause(paused)
        self.assigned.set()
        log.info("partitions_assigned", partitions=sorted(_names(assigned)))

    def close_all(self) -> None:
        """Stop counting acks everywhere (stop or failure): nothing more becomes committable."""
        for po in self.offsets.values():
            po.closed = True


def _names(tps: Any) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in tps]
