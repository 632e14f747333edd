"""The producer: partitioning, what is stored, auto-creation, errors, bulk speed."""

from __future__ import annotations

import time
import zlib

import pytest

from rxstreams import App
from rxstreams.errors import BrokerUnavailableError, ConfigurationError, UnknownTopicError
from rxstreams.messages import RecordMetadata, TopicPartition
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryTransport


def test_one_key_always_lands_in_one_partition(broker: MemoryBroker) -> None:
    """Keyed records go to crc32(key) % partitions, the same for every send and producer."""
    broker.create_topic("t", 8)
    transport = MemoryTransport(broker=broker)
    first = transport.create_producer(ProducerConfig(client_id="a"))
    second = transport.create_producer(ProducerConfig(client_id="b"))
    for key in (b"alice", b"bob", b"carol", b"dave"):
        landed = {first.send_soon("t", b"v", key=key).partition for _ in range(5)}
        landed.add(second.send_soon("t", b"v", key=key).partition)
        assert landed == {zlib.crc32(key) % 8}


def test_unkeyed_records_go_round_robin(broker: MemoryBroker, producer: MemoryProducer) -> None:
    """Records with neither key nor partition are spread over the partitions in turn."""
    broker.create_topic("t", 3)
    assert [producer.send_soon("t", b"v").partition for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


async def test_send_returns_a_resolved_future(
    broker: MemoryBroker, producer: MemoryProducer
) -> None:
    """send() stores the record at once; its future already holds where it landed."""
    future = await producer.send("t", b"v", key=b"k", timestamp_ms=1234)
    assert future.done()
    assert future.result() == RecordMetadata("t", 0, 0, 1234)
    assert broker.end_offset(TopicPartition("t", 0)) == 1
    await producer.flush()


def test_fields_are_stored_as_given(broker: MemoryBroker, producer: MemoryProducer) -> None:
    """Key, value, headers (as a tuple) and timestamps are kept; the default time is now."""
    before = time.time_ns() // 1_000_000
    producer.send_soon("t", b"one", key=b"k", headers=[("a", b"1"), ("a", b"2")])
    after = time.time_ns() // 1_000_000
    producer.send_soon("t", None, timestamp_ms=7, headers=(("b", b""),))
    first, second = broker.records(TopicPartition("t", 0))
    assert (first.key, first.value, first.headers) == (b"k", b"one", (("a", b"1"), ("a", b"2")))
    assert before <= first.timestamp <= after
    assert (second.key, second.value, second.timestamp, second.headers) == (
        None, None, 7, (("b", b""),),
    )  # fmt: skip


def test_sending_to_a_new_topic_creates_it() -> None:
    """A topic that does not exist is created with the broker's default partition count."""
    broker = MemoryBroker(default_partitions=3)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    assert broker.partition_count("fresh") is None
    metadata = producer.send_soon("fresh", b"v", partition=2)
    assert broker.partition_count("fresh") == 3
    assert broker.topics() == ["fresh"]
    assert metadata == RecordMetadata("fresh", 2, 0, metadata.timestamp)


@pytest.mark.parametrize("partition", [-1, 2, 5])
def test_a_partition_out_of_range_is_refused(
    broker: MemoryBroker, producer: MemoryProducer, partition: int
) -> None:
    """Sending to a partition the topic does not have raises UnknownTopicError."""
    broker.create_topic("t", 2)
    with pytest.raises(UnknownTopicError, match=f"partition {partition} does not exist"):
        producer.send_soon("t", b"v", partition=partition)
    assert broker.end_offset(TopicPartition("t", 0)) == 0


def test_an_invalid_topic_name_is_refused(producer: MemoryProducer) -> None:
    """A topic name Kafka would reject raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="invalid topic name"):
        producer.send_soon("no spaces", b"v")


async def test_sending_after_stop_fails(producer: MemoryProducer) -> None:
    """After stop(), send() and send_soon() raise BrokerUnavailableError."""
    await producer.start()
    await producer.stop()
    with pytest.raises(BrokerUnavailableError, match="stopped"):
        await producer.send("t", b"v")
    with pytest.raises(BrokerUnavailableError):
        producer.send_soon("t", b"v")
    with pytest.raises(BrokerUnavailableError):
        await producer.start()


def test_send_soon_produces_a_million_records(broker: MemoryBroker) -> None:
    """send_soon pre-produces 1,000,000 records quickly, spread round-robin."""
    broker.create_topic("bulk", 4)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    send_soon = producer.send_soon
    for _ in range(1_000_000):
        send_soon("bulk", b"x")
    ends = [broker.end_offset(TopicPartition("bulk", p)) for p in range(4)]
    assert ends == [250_000] * 4
    last = broker.records(TopicPartition("bulk", 3))[-1]
    assert (last.offset, last.value) == (249_999, b"x")


@pytest.mark.parametrize(
    "settings",
    [
        {"producer_acks": 0, "producer_compression": "zstd", "producer_linger": 5.0},
        {"producer_acks": 1, "producer_idempotence": False, "producer_max_batch_size": 1},
        {"producer_acks": -1, "producer_idempotence": True, "producer_max_request_size": 10},
        {"producer_request_timeout": 0.001, "producer_compression": "snappy"},
    ],
    ids=str,
)
async def test_an_app_with_any_producer_settings_sends_as_usual(
    broker: MemoryBroker, settings: dict[str, object]
) -> None:
    """The memory broker accepts and ignores producer settings: a send is in the log at once."""
    app = App("a", transport=MemoryTransport(broker=broker), topic_partitions=1, **settings)
    try:
        sent = await app.topic("t").send(key="k", value="a value longer than ten bytes")
        assert sent.done()  # already in the log
        landed = sent.result()
        assert (landed.topic, landed.partition, landed.offset) == ("t", 0, 0)
        (record,) = broker.records(TopicPartition("t", 0))
        assert (record.key, record.value) == (b'"k"', b'"a value longer than ten bytes"')
    finally:
        await app.stop()


def test_bad_producer_settings_are_refused_on_the_memory_broker_too() -> None:
    """Producer settings are validated the same way whatever the broker."""
    with pytest.raises(ConfigurationError, match="setting producer_acks must be"):
        App("a", broker="memory://", producer_acks=2)
