"""The memory:// transport: URLs, the named registry, topic declaration, closing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import rxstreams_memory
from rxstreams.errors import BrokerUnavailableError, ConfigurationError
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport


@pytest.fixture
def registry_names() -> Iterator[list[str]]:
    """Names to drop from the process-wide registry after the test."""
    names: list[str] = []
    yield names
    for name in names:
        MemoryBroker.forget_named(name)


def test_memory_url_uses_the_default_broker(registry_names: list[str]) -> None:
    """'memory://' (the default URL) opens the registry broker named 'default'."""
    registry_names.append("default")
    assert MemoryTransport().broker is MemoryBroker.named("default")
    assert MemoryTransport("memory://").broker is MemoryBroker.named("default")
    assert MemoryTransport("memory://").url == "memory://"


def test_named_urls_share_one_broker(registry_names: list[str]) -> None:
    """Two transports on 'memory://NAME' see the same topics; another name does not."""
    registry_names += ["test-shared", "test-other"]
    first = MemoryTransport("memory://test-shared")
    second = MemoryTransport("memory://test-shared")
    first.broker.create_topic("t", 2)
    assert second.broker.partition_count("t") == 2
    assert MemoryTransport("memory://test-other").broker.partition_count("t") is None


def test_an_explicit_broker_wins_over_the_url(broker: MemoryBroker) -> None:
    """broker= is used even when the URL names a registry broker."""
    assert MemoryTransport("memory://ignored-name", broker=broker).broker is broker


@pytest.mark.parametrize(
    "url",
    ["kafka://localhost:9092", "localhost", "memory://a/b", "memory://a?x=1", "memory://a:b@c"],
)
def test_malformed_urls_are_refused(url: str) -> None:
    """A URL that is not memory:// or memory://NAME raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="memory://"):
        MemoryTransport(url)


def test_another_scheme_is_named_in_the_error() -> None:
    """The error for a foreign scheme says which scheme it got."""
    with pytest.raises(ConfigurationError, match="scheme is 'kafka', not 'memory'"):
        MemoryTransport("kafka://h1:9092")


async def test_create_topics_and_partition_count(transport: MemoryTransport) -> None:
    """create_topics creates missing topics and leaves existing ones as they are."""
    await transport.create_topics([TopicSpec("a", 3), TopicSpec("b", 1, retention_ms=1000)])
    await transport.create_topics([TopicSpec("a", 8), TopicSpec("c", 2, compacting=True)])
    assert await transport.partition_count("a") == 3
    assert await transport.partition_count("c") == 2
    assert await transport.partition_count("missing") is None
    assert transport.broker.topics() == ["a", "b", "c"]


async def test_close_stops_what_the_transport_opened(
    transport: MemoryTransport, broker: MemoryBroker
) -> None:
    """close() makes its consumers leave their groups and its producers refuse sends."""
    listener: Any = object()
    consumer = transport.create_consumer(["t"], listener, ConsumerConfig("g", "c"))
    producer = transport.create_producer(ProducerConfig("p"))
    await consumer.start()
    producer.send_soon("t", b"v")
    assert broker.group_members("g") == [consumer.member_id]

    await transport.close()

    assert broker.group_members("g") == []
    with pytest.raises(BrokerUnavailableError):
        producer.send_soon("t", b"v")
    with pytest.raises(BrokerUnavailableError, match="closed"):
        transport.create_producer(ProducerConfig("p"))
    assert broker.end_offset(TopicPartition("t", 0)) == 1  # the data stays on the broker
    await transport.close()


def test_the_public_api_is_exactly_all() -> None:
    """The package exports the five classes it lists in __all__."""
    assert rxstreams_memory.__all__ == (
        "MemoryBroker",
        "MemoryTransport",
        "MemoryConsumer",
        "MemoryProducer",
        "MemoryReader",
    )
    public = {name for name in dir(rxstreams_memory) if not name.startswith("_")}
    assert public == set(rxstreams_memory.__all__)
