"""Producing: the app's one producer, the topics it declared, and the flush before commits.

It is created on the first send, whether the app was started or not (a script may only
send), and it is a lifecycle participant: offsets are committed only after everything sent
before is on the broker. Closing it flushes first, so nothing sent is lost on any stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from ..logging import get_logger
from ..messages import Headers, RecordMetadata, TopicPartition, TopicSpec
from ..types import ProducerConfig, ProducerT, TransportT
from .lifecycle import Participant

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
        self.sent += 1
        return await producer.send(
            spec.name,
            value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )

    async def flush(self) -> None:
        """Wait until every record queued so far is on the broker."""
        if self._producer is not None:
            await self._producer.flush()

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self.flush()

    async def close(self) -> None:
        """Flush and close the producer (what was sent is on the broker afterwards)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def abandon(self) -> None:
        """Forget the producer without flushing (a killed worker)."""
        self._producer = None
