"""The partition log: offsets, frozen shared records, retention by count and by age."""

from __future__ import annotations

import time

import pytest

from rxstreams.messages import Message, TopicPartition
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryTransport

TP0 = TopicPartition("t", 0)


def make_producer(broker: MemoryBroker) -> MemoryProducer:
    return MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))


def test_offsets_start_at_zero_and_count_up_per_partition(broker: MemoryBroker) -> None:
    """Each partition numbers its records 0, 1, 2, … on its own."""
    broker.create_topic("t", 2)
    producer = make_producer(broker)
    landed = [producer.send_soon("t", b"%d" % i, partition=i % 2) for i in range(6)]
    assert [(md.partition, md.offset) for md in landed] == [
        (0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2),
    ]  # fmt: skip
    assert [m.offset for m in broker.records(TP0)] == [0, 1, 2]
    assert broker.end_offset(TopicPartition("t", 1)) == 3


def test_stored_records_are_frozen_messages(broker: MemoryBroker) -> None:
    """Records are immutable Message objects, equal to ones built by hand."""
    producer = make_producer(broker)
    producer.send_soon("t", b"v", key=b"k", timestamp_ms=42, headers=[("h", b"1")])
    (record,) = broker.records(TP0)
    assert type(record) is Message
    assert record == Message("t", 0, 0, 42, b"k", b"v", (("h", b"1"),))
    with pytest.raises(AttributeError):
        record.offset = 7  # type: ignore[misc]


def test_retention_by_count_advances_the_log_start() -> None:
    """With retention_messages=10, only the last 10 records stay; offsets keep counting."""
    broker = MemoryBroker(retention_messages=10)
    producer = make_producer(broker)
    for i in range(25):
        producer.send_soon("t", b"%d" % i)
    assert broker.start_offset(TP0) == 15
    assert broker.end_offset(TP0) == 25
    assert [m.value for m in broker.records(TP0)] == [b"%d" % i for i in range(15, 25)]


def test_retention_by_count_stays_bounded_over_many_records() -> None:
    """A long run under count retention keeps exactly the newest records readable."""
    broker = MemoryBroker(retention_messages=100)
    producer = make_producer(broker)
    for i in range(50_000):
        producer.send_soon("t", b"%d" % i)
    records = broker.records(TP0)
    assert len(records) == 100
    assert records[0].offset == broker.start_offset(TP0) == 49_900
    assert len(broker._log(TP0)._records) <= 2 * 1024 + 100  # the dead prefix is cut


def test_retention_by_age_drops_old_records_on_append(broker: MemoryBroker) -> None:
    """Records older than the topic's retention_ms disappear when the next record arrives."""
    broker.create_topic("t", 1, retention_ms=60_000)
    producer = make_producer(broker)
    now = time.time_ns() // 1_000_000
    for _ in range(3):
        producer.send_soon("t", b"old", timestamp_ms=now - 3_600_000)
    producer.send_soon("t", b"recent", timestamp_ms=now - 1_000)
    assert broker.start_offset(TP0) == 3
    producer.send_soon("t", b"new")
    assert broker.start_offset(TP0) == 3
    assert [m.value for m in broker.records(TP0)] == [b"recent", b"new"]
    assert broker.end_offset(TP0) == 5


def test_topics_without_retention_keep_everything(broker: MemoryBroker) -> None:
    """With no retention configured, the log start stays at 0."""
    producer = make_producer(broker)
    for _ in range(3):
        producer.send_soon("t", b"v", timestamp_ms=0)
    assert broker.start_offset(TP0) == 0
    assert len(broker.records(TP0)) == 3
