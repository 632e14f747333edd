"""Fixtures for the memory broker's tests: a fresh broker, producers, recorded consumers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import pytest

from rxstreams.messages import TopicPartition
from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryConsumer, MemoryProducer, MemoryTransport

Journal = list[tuple[str, str, frozenset[TopicPartition]]]


class RecordingListener:
    """Journals every listener call; on revoke, commits ``to_commit`` for revoked partitions."""

    def __init__(self, name: str, journal: Journal) -> None:
        self.name = name
        self.journal = journal
        self.consumer: MemoryConsumer | None = None
        self.to_commit: dict[TopicPartition, int] = {}
        self.fail_on_revoke: Exception | None = None

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        self.journal.append((self.name, "revoked", revoked))
        offsets = {tp: off for tp, off in self.to_commit.items() if tp in revoked}
        self.to_commit = {}
        if offsets:
            assert self.consumer is not None
            await self.consumer.commit(offsets)
            self.journal.append((self.name, "committed", frozenset(offsets)))
        if self.fail_on_revoke is not None:
            raise self.fail_on_revoke

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        self.journal.append((self.name, "assigned", assigned))


@pytest.fixture
def broker() -> MemoryBroker:
    """A fresh broker, not in the registry."""
    return MemoryBroker()


@pytest.fixture
def transport(broker: MemoryBroker) -> MemoryTransport:
    """A transport on the fresh broker."""
    return MemoryTransport(broker=broker)


@pytest.fixture
def producer(transport: MemoryTransport) -> MemoryProducer:
    """A producer on the fresh broker."""
    return transport.create_producer(ProducerConfig(client_id="producer"))


@pytest.fixture
def journal() -> Journal:
    """Listener calls of every consumer made by ``make_consumer``, in the order they happened."""
    return []


MakeConsumer = Callable[..., Awaitable[tuple[MemoryConsumer, RecordingListener]]]


@pytest.fixture
async def make_consumer(
    transport: MemoryTransport, journal: Journal
) -> AsyncIterator[MakeConsumer]:
    """Create and start a consumer with a recording listener; stops the survivors afterwards."""
    made: list[MemoryConsumer] = []

    async def make(
        name: str,
        topics: Collection[str] = ("t",),
        *,
        group_id: str = "g",
        start: bool = True,
        **config: Any,
    ) -> tuple[MemoryConsumer, RecordingListener]:
        listener = RecordingListener(name, journal)
        consumer = transport.create_consumer(
            topics, listener, ConsumerConfig(group_id=group_id, client_id=name, **config)
        )
        listener.consumer = consumer
        made.append(consumer)
        if start:
            await consumer.start()
        return consumer, listener

    yield make
    for consumer in made:
        if consumer._state == "started":
            await consumer.stop()
