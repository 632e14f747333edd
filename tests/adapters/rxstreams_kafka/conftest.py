"""Fixtures for the Kafka adapter's tests, against the session's Apache Kafka broker.

The broker's state lives as long as the session, so every test names its own topics and
groups (:func:`names`). Consumers use a 2 s session timeout (a crashed member is noticed
quickly) and a short ``fetch_max_wait``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import pytest

from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_kafka import KafkaConsumer, KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.helpers import Journal, RecordingListener

#: consumer settings that make groups form and notice crashes fast
FAST = {"session_timeout": 2.0, "heartbeat_interval": 0.5, "fetch_max_wait": 0.05}


@pytest.fixture
def names() -> Callable[[str], str]:
    """Make names unique to the test (topics and groups outlive it on the broker)."""
    run = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def make(prefix: str) -> str:
        return f"{prefix}-{run}-{next(counter)}"

    return make


@pytest.fixture
async def transport(kafka_url: str) -> AsyncIterator[KafkaTransport]:
    """A transport on the session's broker; closed (with what it opened) afterwards."""
    transport = KafkaTransport(kafka_url)
    yield transport
    await transport.close()


@pytest.fixture
async def producer(transport: KafkaTransport) -> AsyncIterator[KafkaProducer]:
    """A started producer, stopped afterwards."""
    producer = transport.create_producer(ProducerConfig(client_id="test-producer"))
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
def journal() -> Journal:
    """Listener calls of every consumer made by ``make_consumer``, in the order they happened."""
    return []


MakeConsumer = Callable[..., Awaitable[tuple[KafkaConsumer, RecordingListener]]]


@pytest.fixture
def make_consumer(transport: KafkaTransport, journal: Journal) -> MakeConsumer:
    """Create and start a consumer with a recording listener (the transport stops it)."""

    async def make(
        name: str,
        topics: Collection[str],
        *,
        group_id: str,
        start: bool = True,
        **config: Any,
    ) -> tuple[KafkaConsumer, RecordingListener]:
        listener = RecordingListener(name, journal)
        consumer = transport.create_consumer(
            topics,
            listener,
            ConsumerConfig(group_id=group_id, client_id=name, **{**FAST, **config}),
        )
        listener.consumer = consumer
        if start:
            await consumer.start()
        return consumer, listener

    return make
