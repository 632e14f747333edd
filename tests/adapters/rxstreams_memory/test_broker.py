"""The broker: the named registry, topics, inspection for tests and notebooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from rxstreams.errors import ConfigurationError, UnknownTopicError
from rxstreams.messages import TopicPartition
from rxstreams.types import ConsumerConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryTransport


@pytest.fixture
def registry_names() -> Iterator[list[str]]:
    """Names to drop from the process-wide registry after the test."""
    names: list[str] = []
    yield names
    for name in names:
        MemoryBroker.forget_named(name)


def test_named_returns_one_broker_per_name(registry_names: list[str]) -> None:
    """named() gives the same broker for the same name and another one for another name."""
    registry_names += ["test-broker-a", "test-broker-b"]
    first = MemoryBroker.named("test-broker-a")
    assert MemoryBroker.named("test-broker-a") is first
    assert MemoryBroker.named("test-broker-b") is not first
    MemoryBroker.forget_named("test-broker-a")
    assert MemoryBroker.named("test-broker-a") is not first


def test_create_topic_is_idempotent(broker: MemoryBroker) -> None:
    """Creating an existing topic again keeps its partition count."""
    broker.create_topic("t", 3)
    broker.create_topic("t", 5)
    broker.create_topic("a", 1)
    assert broker.partition_count("t") == 3
    assert broker.partition_count("missing") is None
    assert broker.topics() == ["a", "t"]


def test_topics_can_grow_but_not_shrink(broker: MemoryBroker) -> None:
    """create_partitions adds partitions; asking for fewer is an error."""
    broker.create_topic("t", 2)
    broker.create_partitions("t", 4)
    assert broker.partition_count("t") == 4
    assert broker.end_offset(TopicPartition("t", 3)) == 0
    with pytest.raises(ConfigurationError, match="cannot shrink"):
        broker.create_partitions("t", 1)


def test_unknown_topics_and_partitions_raise(broker: MemoryBroker) -> None:
    """Asking about a partition that does not exist raises UnknownTopicError."""
    broker.create_topic("t", 1)
    with pytest.raises(UnknownTopicError, match="'missing' does not exist"):
        broker.end_offset(TopicPartition("missing", 0))
    with pytest.raises(UnknownTopicError, match="partition 1 does not exist"):
        broker.records(TopicPartition("t", 1))


@pytest.mark.parametrize(
    "settings",
    [{"default_partitions": 0}, {"retention_messages": 0}, {"default_partitions": "2"}],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    """Non-positive or non-integer counts raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match="positive integer"):
        MemoryBroker(**settings)


def test_bad_topic_settings_are_refused(broker: MemoryBroker) -> None:
    """A topic needs a legal name, at least one partition and a positive retention."""
    with pytest.raises(ConfigurationError, match="invalid topic name"):
        broker.create_topic("", 1)
    with pytest.raises(ConfigurationError, match="partitions"):
        broker.create_topic("t", 0)
    with pytest.raises(ConfigurationError, match="retention_ms"):
        broker.create_topic("t", 1, retention_ms=-5)


def test_unknown_groups_are_empty(broker: MemoryBroker) -> None:
    """A group never formed has no members, no assignment and no committed offsets."""
    assert broker.group_members("nobody") == []
    assert broker.group_assignment("nobody") == {}
    assert broker.committed("nobody", TopicPartition("t", 0)) is None
    assert broker.group_generation("nobody") == 0


def test_crash_refuses_a_consumer_of_another_broker(broker: MemoryBroker) -> None:
    """crash() only kills consumers of this broker."""
    listener: Any = object()
    other = MemoryTransport(broker=MemoryBroker()).create_consumer(
        ["t"], listener, ConsumerConfig(group_id="g", client_id="c")
    )
    with pytest.raises(ConfigurationError, match="another MemoryBroker"):
        broker.crash(other)


def test_nothing_is_logged_per_record(producer: MemoryProducer) -> None:
    """Producing logs the topic creation once, and nothing per record."""
    with capture_logs() as logs:
        for _ in range(100):
            producer.send_soon("t", b"v")
    assert [entry["event"] for entry in logs] == ["topic_created"]
    assert logs[0]["topic"] == "t"
