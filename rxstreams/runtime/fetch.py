"""Fetch: from the group consumer's batches to the topics' sources.

The loop hands each fetched batch to the source of its topic. It also pauses and resumes
partitions: a partition is fetched while its topic's source has room (flow control) and
its lifecycle participants are ready (a partition just assigned may be *held* until then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from ..logging import get_logger
from ..messages import TopicPartition
from ..types import ConsumerT, MessageT
from .offsets import PartitionOffsets
from .retry import Outage, retrying
from .source import Source
from .transactions import Gate

__all__ = ("Fetcher",)

log = get_logger(__name__)


class Fetcher:
    """Feeds the worker's topic sources from its consumer-group member."""

    def __init__(
        self,
        sources: Mapping[str, Source],
        offsets: Mapping[TopicPartition, PartitionOffsets],
        *,
        max_records: int,
        timeout: float,
        outage: Outage,
    ) -> None:
        self.sources = sources
        #: the broker's availability, shared with the committer (see runtime/retry.py)
        self.outage = outage
        self.offsets = offsets
        self.max_records = max_records
        self.timeout = timeout
        self.consumer: ConsumerT | None = None
        #: partitions whose delivery waits for lifecycle participants
        self.held: set[TopicPartition] = set()
        #: batches of held partitions fetched before the consumer paused them (the
        #: assignment happens inside getmany, which may return some): delivered on release
        self._stashed: dict[TopicPartition, list[Sequence[MessageT]]] = {}
        #: set after a fetch found nothing to do; cleared by every non-empty fetch
        self.idle = asyncio.Event()
        #: exactly-once: closed while a transaction commits (fetched batches wait)
        self.gate: Gate | None = None

    async def run(self) -> None:
        """Fetch batches and hand them to the sources until cancelled."""
        consumer = self.consumer
        assert consumer is not None
        sources = self.sources
        offsets = self.offsets
        while True:
            # a broker outage is waited out, with backoff (one log line when it starts, one
            # when it ends); any other error stops the worker
            batches = await retrying(
                self.outage,
                "fetch",
                consumer.getmany,
                timeout=self.timeout,
                max_records=self.max_records,
            )
            if not batches:
                if offsets:
                    self._passed(consumer)
                    if self.caught_up():
                        self.idle.set()
                continue
            self.idle.clear()
            gate = self.gate
            if gate is not None and not gate.is_open:
                await gate.wait()
            held = self.held
            for tp, messages in batches.items():
                po = offsets.get(tp)
                if po is None or po.closed or not messages:
                    continue
                if held and tp in held:
                    self._stashed.setdefault(tp, []).append(messages)
                    continue
                sources[tp.topic].deliver(messages, po)

    def _passed(self, consumer: ConsumerT) -> None:
        """Nothing was fetched: what the consumer skipped at the end of each log (a
        transaction's marker) is committable once everything before it is acked."""
        for tp, po in self.offsets.items():
            position = consumer.position(tp)
            if position is not None:
                po.passed(position)

    def caught_up(self) -> bool:
        """Every assigned partition was read to its end (as far as the broker said)."""
        consumer = self.consumer
        if consumer is None or self.held:
            return False
        for tp in self.offsets:
            end = consumer.highwater(tp)
            position = consumer.position(tp)
            if end is None or position is None or position < end:
                return False
        return True

    # -- pausing ------------------------------------------------------------------------------

    def pause(self, source: Source) -> None:
        """Stop fetching ``source``'s partitions (too many of its events are in flight)."""
        if self.consumer is not None:
            self.consumer.pause([tp for tp in self.offsets if tp.topic == source.name])
            log.debug("topic_paused", topic=source.name, in_flight=source.in_flight)

    def resume(self, source: Source) -> None:
        """Fetch ``source``'s partitions again (those not held)."""
        if self.consumer is not None:
            self.consumer.resume(
                [tp for tp in self.offsets if tp.topic == source.name and tp not in self.held]
            )
            log.debug("topic_resumed", topic=source.name, in_flight=source.in_flight)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Revoked partitions: no longer held, and what was fetched for them is dropped."""
        for tp in partitions:
            self.held.discard(tp)
            self._stashed.pop(tp, None)

    def hold(self, partitions: Iterable[TopicPartition]) -> None:
        """Hold delivery of ``partitions`` until :meth:`release`."""
        tps = list(partitions)
        self.held.update(tps)
        if self.consumer is not None and tps:
            self.consumer.pause(tps)

    def release(self, partitions: Iterable[TopicPartition]) -> None:
        """Deliver ``partitions`` again (unless their source is paused for flow control)."""
        tps = [tp for tp in partitions if tp in self.held]
        self.held.difference_update(tps)
        for tp in tps:
            po = self.offsets.get(tp)
            for messages in self._stashed.pop(tp, ()):
                if po is not None and not po.closed:
                    self.sources[tp.topic].deliver(messages, po)
        if self.consumer is None:
            return
        ready = [tp for tp in tps if tp in self.offsets and not self.sources[tp.topic].paused]
        if ready:
            self.consumer.resume(ready)
