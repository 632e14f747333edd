"""Assignment: what the worker does when the group hands partitions out or takes them back.

It is the consumer's rebalance listener. On revocation: the participants' ``on_revoking``,
a commit of the acked work, then the revoked partitions' offsets are closed (acks of their
events no longer count; their new owner processes them again) and ``on_revoked``. On
assignment: each partition's offsets start at the group's committed offset, and, when a
participant needs it, delivery is held until every ``on_assigned`` returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ..errors import TransportError
from ..logging import get_logger
from ..messages import TopicPartition
from .commit import Committer
from .fetch import Fetcher
from .lifecycle import Lifecycle, Participant
from .offsets import PartitionOffsets
from .retry import retrying
from .source import Source

__all__ = ("Assignment",)

log = get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class Assignment:
    """The worker's rebalance listener (:class:`~rxstreams.types.RebalanceListenerT`)."""

    def __init__(
        self,
        offsets: dict[TopicPartition, PartitionOffsets],
        sources: dict[str, Source],
        fetcher: Fetcher,
        committer: Committer,
        lifecycle: Lifecycle,
        spawn: Spawn,
    ) -> None:
        self.offsets = offsets
        self.sources = sources
        self.fetcher = fetcher
        self.committer = committer
        self.lifecycle = lifecycle
        self._spawn = spawn
        self._readying: dict[frozenset[TopicPartition], asyncio.Task[None]] = {}
        #: set while partitions are assigned and ready
        self.assigned = asyncio.Event()
        self.rebalances = 0
        #: the worker is stopping: it revokes everything itself
        self.stopping = False

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Commit acked work, then forget the revoked partitions' in-flight events."""
        if self.stopping:
            return
        self.assigned.clear()
        self.fetcher.idle.clear()
        for tps, task in list(self._readying.items()):
            if tps & revoked:
                task.cancel()
        gone = frozenset(tp for tp in revoked if tp in self.offsets)
        await self.lifecycle.revoking(gone)
        try:
            await self.committer.commit(final=True)
        except TransportError as exc:
            if not exc.retriable:
                raise
            # the broker went away again mid-rebalance: the acked work of these partitions
            # is not committed, so their next owner processes it again (at least once)
            log.warning("commit_before_revoke_failed", error=str(exc))
        for tp in gone:
            po = self.offsets.pop(tp)
            dropped = po.close()
            source = self.sources.get(tp.topic)
            if source is not None:
                source.in_flight -= dropped
                if source.paused and source.in_flight <= source.resume_below:
                    source.resume()
        self.fetcher.forget(gone)
        await self.lifecycle.revoked(gone)
        log.info("partitions_revoked", partitions=names(gone))

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        """Start tracking the new partitions from the group's committed offsets."""
        consumer = self.fetcher.consumer
        assert consumer is not None
        self.rebalances += 1
        mine = [tp for tp in assigned if tp.topic in self.sources]
        outage = self.committer.outage
        committed = await asyncio.gather(
            *(retrying(outage, "fetch_committed", consumer.committed, tp) for tp in mine)
        )
        for tp, offset in zip(mine, committed, strict=True):
            self.offsets[tp] = PartitionOffsets(tp, self.sources[tp.topic], self.committer, offset)
        paused = [tp for tp in mine if self.sources[tp.topic].paused]
        if paused:
            consumer.pause(paused)
        log.info("partitions_assigned", partitions=names(assigned))
        new = frozenset(mine)
        if new and self._needs_readying():
            self.fetcher.hold(new)
            self._readying[new] = self._spawn(self._ready(new), f"ready:{len(new)}")
        else:
            self.assigned.set()

    def _needs_readying(self) -> bool:
        return any(
            type(p).on_assigned is not Participant.on_assigned for p in self.lifecycle.participants
        )

    async def _ready(self, partitions: frozenset[TopicPartition]) -> None:
        try:
            await self.lifecycle.assigned(partitions)
        finally:
            self._readying.pop(partitions, None)
        self.fetcher.release(partitions)
        if not self._readying:
            self.assigned.set()
        log.debug("partitions_ready", partitions=names(partitions))


def names(tps: Any) -> list[str]:
    """``topic[partition]`` names, sorted."""
    return [f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)]
