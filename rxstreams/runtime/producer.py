"""Producing: the app's one producer, the topics it declared, and the flush before commits.

It is created on the first send, whether the app was started or not (a script may only
send), and it is a lifecycle participant: offsets are committed only after everything sent
before is on the broker. Closing it flushes first, so nothing sent is lost on any stop.

**Exactly-once** (a producer config with ``transactional_id``): every record goes into the
worker's open transaction, begun by the first send after the last commit. The committer
ends it (:meth:`Producing.commit_transaction`: the records and the input offsets that led
to them, atomically) or throws it away (:meth:`Producing.abort_transaction`). A send made
while a transaction is being committed waits for the next one. A send made on behalf of
an event whose partitions this worker lost (a revoked event, or any event once the worker
crashed) is dropped: the partitions' new owner processes the event again, in its own
transaction; the dropped send resolves to offset -1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ..events import _current_item
from ..logging import get_logger
from ..messages import GroupMetadata, Headers, RecordMetadata, TopicPartition, TopicSpec
from ..types import ProducerConfig, ProducerT, TransportT
from .lifecycle import Participant
from .tokens import revoked

__all__ = ("Producing",)

log = get_logger(__name__)


class Producing(Participant):
    """Sends records through one producer, declaring each topic before its first record."""

    def __init__(self, transport: Callable[[], TransportT], config: ProducerConfig) -> None:
        self._transport = transport
        self._config = config
        self._producer: ProducerT | None = None
        self._lock = asyncio.Lock()
        #: topics created (or found) on the broker by this app
        self.declared: set[str] = set()
        self.sent = 0
        #: exactly-once: every send is part of a transaction
        self.transactional = config.transactional_id is not None
        #: a transaction is open (records were sent since the last commit or abort)
        self.in_transaction = False
        #: set except while a transaction is being committed or aborted
        self._between = asyncio.Event()
        self._between.set()
        self._beginning = asyncio.Lock()
        #: exactly-once: how ``flush()`` commits when a committer runs (set by the worker)
        self.commit_all: Callable[[], Awaitable[object]] | None = None
        self.transactions = 0
        self.aborted = 0
        self.dropped = 0

    async def declare(self, specs: list[TopicSpec]) -> None:
        """Create the topics of ``specs`` that this app did not declare yet."""
        new = [s for s in specs if s.name not in self.declared]
        if new:
            await self._transport().create_topics(new)
            self.declared.update(s.name for s in new)

    async def producer(self) -> ProducerT:
        """The started producer (started on first use)."""
        producer = self._producer
        if producer is None:
            async with self._lock:
                producer = self._producer
                if producer is None:
                    producer = self._transport().create_producer(self._config)
                    await producer.start()
                    self._producer = producer
        return producer

    async def send(
        self,
        spec: TopicSpec,
        value: bytes | None,
        *,
        key: bytes | None,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Headers,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue a record to ``spec``'s topic (declared first if needed)."""
        if spec.name not in self.declared:
            await self.declare([spec])
        producer = self._producer or await self.producer()
        if self.transactional:
            dropped = await self._into_transaction(producer, spec.name, partition, timestamp_ms)
            if dropped is not None:
                return dropped
        self.sent += 1
        return await producer.send(
            spec.name,
            value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )

    async def send_batch(
        self, spec: TopicSpec, records: Sequence[tuple[bytes | None, bytes | None, int | None]]
    ) -> list[RecordMetadata]:
        """Send ``(key, value, partition)`` records to ``spec``'s topic and wait until the
        broker has them (exactly-once: in the open transaction); where each landed."""
        if spec.name not in self.declared:
            await self.declare([spec])
        producer = self._producer or await self.producer()
        if self.transactional:
            dropped = await self._into_transaction(producer, spec.name, None, None)
            if dropped is not None:
                return [await dropped] * len(records)
        self.sent += len(records)
        return await producer.send_batch(spec.name, records)

    async def _into_transaction(
        self, producer: ProducerT, topic: str, partition: int | None, timestamp_ms: int | None
    ) -> asyncio.Future[RecordMetadata] | None:
        """Open a transaction for the next send; a future to return instead when the send
        is dropped (made for a revoked event)."""
        while not self._between.is_set():
            await self._between.wait()
        item = _current_item()
        if item is not None and revoked(item):
            self.dropped += 1
            log.debug("send_of_revoked_event_dropped", topic=topic)
            done: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
            stamp = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
            done.set_result(
                RecordMetadata(topic, -1 if partition is None else partition, -1, stamp)
            )
            return done
        if not self.in_transaction:
            async with self._beginning:  # concurrent first sends: one begins, all wait
                if not self.in_transaction:
                    await producer.begin_transaction()
                    self.in_transaction = True
        return None

    async def flush(self) -> None:
        """Wait until every record sent so far is on the broker (and, exactly-once,
        visible to committed readers: the open transaction is committed)."""
        if not self.transactional:
            await self.on_commit({})
        elif self.commit_all is not None:
            await self.commit_all()
        elif self.in_transaction:  # no input: only the records to commit
            await self.commit_transaction({}, None)

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def commit_transaction(
        self, offsets: Mapping[TopicPartition, int], group: GroupMetadata | None
    ) -> bool:
        """Commit the open transaction with ``offsets`` for ``group``; returns False when
        there was nothing to commit. Raises what the producer raises (a fenced member's
        offsets: CommitFailedError; then abort)."""
        if not offsets and not self.in_transaction:
            return False
        producer = self._producer or await self.producer()
        self._between.clear()
        try:
            if not self.in_transaction:
                await producer.begin_transaction()
                self.in_transaction = True
            if offsets and group is not None:
                await producer.send_offsets_to_transaction(offsets, group)
            await producer.commit_transaction()
            self.in_transaction = False
            self.transactions += 1
        finally:
            self._between.set()
        return True

    async def abort_transaction(self) -> None:
        """Throw the open transaction away: its records and offsets are never visible."""
        if not self.in_transaction or self._producer is None:
            self.in_transaction = False
            return
        self._between.clear()
        try:
            await self._producer.abort_transaction()
            self.aborted += 1
        finally:
            self.in_transaction = False
            self._between.set()

    async def close(self) -> None:
        """Flush and close the producer (what was sent is on the broker afterwards); an
        open transaction is aborted, as Kafka's producers do."""
        producer, self._producer = self._producer, None
        if producer is not None:
            self.in_transaction = False
            await producer.stop()

    def abandon(self) -> None:
        """Forget the producer without flushing (a killed worker)."""
        self._producer = None
