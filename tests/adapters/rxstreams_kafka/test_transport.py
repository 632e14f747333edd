"""The kafka:// transport against Apache Kafka: declaring topics, unreachable brokers, closing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rxstreams.errors import BrokerUnavailableError, ConfigurationError
from rxstreams.messages import TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_kafka import KafkaTransport
from tests.adapters.rxstreams_kafka.helpers import RecordingListener
from tests.brokers._process import free_port

pytestmark = pytest.mark.kafka


async def test_create_topics_is_idempotent(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """Missing topics are created with their partition counts; existing ones stay as they are."""
    a, b, c = names("a"), names("b"), names("c")
    await transport.create_topics([TopicSpec(a, 3), TopicSpec(b, 1, retention_ms=60_000)])
    await transport.create_topics([TopicSpec(a, 8), TopicSpec(c, 2, compacting=True)])
    await transport.create_topics([TopicSpec(a, 3), TopicSpec(a, 5)])  # one name twice
    assert await transport.partition_count(a) == 3
    assert await transport.partition_count(b) == 1
    assert await transport.partition_count(c) == 2


async def test_partition_count_of_a_missing_topic_is_none(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """Asking about a topic that does not exist says None and does not create it."""
    missing = names("missing")
    assert await transport.partition_count(missing) is None
    assert await transport.partition_count(missing) is None


async def test_a_topic_without_partitions_is_refused(transport: KafkaTransport) -> None:
    """A spec with 0 partitions raises ConfigurationError before anything is sent."""
    with pytest.raises(ConfigurationError, match="at least 1 partition"):
        await transport.create_topics([TopicSpec("zero", 0)])


async def test_an_unreachable_broker_is_reported_quickly() -> None:
    """With nothing listening, starting a consumer or producer or declaring topics raises
    BrokerUnavailableError (retriable) within seconds."""
    transport = KafkaTransport(f"kafka://127.0.0.1:{free_port()}")
    listener = RecordingListener("c", [])
    consumer = transport.create_consumer(["t"], listener, ConsumerConfig("g", "c"))
    producer = transport.create_producer(ProducerConfig("p"))
    async with asyncio.timeout(10):
        with pytest.raises(BrokerUnavailableError, match="connecting consumer") as info:
            await consumer.start()
        assert info.value.retriable
        with pytest.raises(BrokerUnavailableError, match="connecting producer"):
            await producer.start()
        with pytest.raises(BrokerUnavailableError, match=r"127\.0\.0\.1"):
            await transport.create_topics([TopicSpec("t", 1)])
    await transport.close()


async def test_close_stops_what_the_transport_opened(
    kafka_url: str, names: Callable[[str], str]
) -> None:
    """close() stops its consumers and producers; a closed transport opens nothing new."""
    transport = KafkaTransport(kafka_url)
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(ProducerConfig("p"))
    await producer.start()
    consumer = transport.create_consumer(
        [topic], RecordingListener("c", []), ConsumerConfig(names("g"), "c", session_timeout=2)
    )
    await consumer.start()

    await transport.close()

    with pytest.raises(BrokerUnavailableError, match="stopped"):
        await producer.send(topic, b"v")
    with pytest.raises(BrokerUnavailableError, match="stopped"):
        await consumer.getmany(timeout=0)
    with pytest.raises(BrokerUnavailableError, match="closed"):
        transport.create_producer(ProducerConfig("p"))
    await transport.close()
