"""The producer and the records a consumer gets back: keys, headers, timestamps, partitions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

import pytest
from aiokafka import errors as kafka_errors
from structlog.testing import capture_logs

from rxstreams import App
from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    ConfigurationError,
    TransportError,
    UnknownTopicError,
)
from rxstreams.messages import RecordMetadata, TopicPartition, TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import FAST, MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import RecordingListener, consume

pytestmark = pytest.mark.kafka


async def test_records_round_trip_with_keys_headers_and_timestamps(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """What is sent comes back: value, key, headers in order, timestamp in milliseconds."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    headers = [("trace", b"abc"), ("trace", b"def"), ("empty", b"")]
    future = await producer.send(
        topic, b"value", key=b"key", headers=headers, timestamp_ms=1_700_000_000_123
    )
    assert await future == RecordMetadata(topic, 0, 0, 1_700_000_000_123)
    await (await producer.send(topic, b"plain"))

    consumer, _ = await make_consumer("c", [topic], group_id=names("g"))
    got = (await consume(consumer, 2))[TopicPartition(topic, 0)]

    first, second = got
    assert (first.topic, first.partition, first.offset) == (topic, 0, 0)
    assert (first.key, first.value, first.timestamp) == (b"key", b"value", 1_700_000_000_123)
    assert list(first.headers) == headers
    assert (second.key, second.value, list(second.headers)) == (None, b"plain", [])
    assert type(second.timestamp) is int  # milliseconds, set by the producer
    assert abs(second.timestamp - time.time() * 1000) < 60_000


async def test_the_same_key_always_goes_to_the_same_partition(
    transport: KafkaTransport, producer: KafkaProducer, names: Callable[[str], str]
) -> None:
    """Keyed records with no partition land by key: one partition per key, keys spread."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 4)])
    futures = [await producer.send(topic, b"%d" % i, key=b"key-%d" % (i % 8)) for i in range(40)]
    landed = [await f for f in futures]
    by_key: dict[int, set[int]] = {}
    for i, md in enumerate(landed):
        by_key.setdefault(i % 8, set()).add(md.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())
    assert len(set().union(*by_key.values())) > 1


async def test_an_explicit_partition_is_used_or_refused(
    transport: KafkaTransport, producer: KafkaProducer, names: Callable[[str], str]
) -> None:
    """partition= picks the partition; one the topic lacks raises UnknownTopicError."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 2)])
    assert (await (await producer.send(topic, b"v", partition=1))).partition == 1
    with pytest.raises(UnknownTopicError, match="partition 2 does not exist"):
        await producer.send(topic, b"v", partition=2)


async def test_flush_waits_for_lingering_records(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """With a long linger, flush() still puts every queued record on the broker."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(ProducerConfig("lingering", linger=30.0))
    await producer.start()
    futures = [await producer.send(topic, b"%d" % i) for i in range(10)]
    assert not any(f.done() for f in futures)
    async with asyncio.timeout(5):
        await producer.flush()
    assert [f.result().offset for f in futures] == list(range(10))


async def test_send_needs_a_started_producer(transport: KafkaTransport) -> None:
    """send() before start() raises AppStateError; after stop(), BrokerUnavailableError."""
    producer = transport.create_producer(ProducerConfig("p"))
    with pytest.raises(AppStateError, match="before start"):
        await producer.send("t", b"v")
    await producer.start()
    await producer.stop()
    with pytest.raises(BrokerUnavailableError, match="stopped"):
        await producer.send("t", b"v")


async def test_a_delivery_failure_fails_the_future_and_the_next_flush(
    producer: KafkaProducer,
) -> None:
    """A record aiokafka could not deliver fails its future with our error, and the next
    flush() raises too, never retriable (the app flushes before committing: no commit past
    lost output, also not after waiting out an outage).

    The broker accepts every record, so the failure aiokafka reports when a batch expires
    is handed to the producer's delivery callback directly."""
    failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    failed.set_exception(kafka_errors.KafkaTimeoutError("Batch for t-0 expired"))
    future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    producer._delivered(future, failed, "t")

    with pytest.raises(BrokerUnavailableError, match="delivering a record to 't'") as sent:
        await future
    assert sent.value.retriable  # sending it again may work
    with pytest.raises(TransportError, match="not delivered") as info:
        await producer.flush()
    assert isinstance(info.value.__cause__, BrokerUnavailableError)
    # but not flushing again: that would succeed, and the app would commit past the record
    assert not info.value.retriable
    await producer.flush()  # reported once


# -- durability settings: idempotence on Apache Kafka, and on a broker that refuses it -------


@pytest.fixture
async def refusing(tansu_url: str) -> AsyncIterator[KafkaTransport]:
    """A transport on Tansu: a Kafka-protocol broker that refuses idempotent producers
    (it answers aiokafka's InitProducerId with UNKNOWN_SERVER_ERROR)."""
    transport = KafkaTransport(tansu_url)
    yield transport
    await transport.close()


async def _read_values(
    transport: KafkaTransport, topic: str, group: str, count: int
) -> list[tuple[int, bytes | None]]:
    """(offset, value) of the ``count`` records of a one-partition topic, checking that
    the log holds no more than that (a duplicate would lengthen it)."""
    consumer = transport.create_consumer(
        [topic], RecordingListener(group, []), ConsumerConfig(group, group, **FAST)
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        got = (await consume(consumer, count)).get(tp, [])
        assert consumer.highwater(tp) == count
        return [(m.offset, m.value) for m in got]
    finally:
        await consumer.stop()


def _aiokafka_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")]


async def test_on_apache_kafka_the_default_producer_is_idempotent_and_says_nothing(
    transport: KafkaTransport, names: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """Defaults (acks=all, idempotence None) on Apache Kafka: the broker gives the producer
    an id, so it is idempotent, and nothing is logged (no fallback warning)."""
    caplog.set_level(logging.WARNING, logger="aiokafka")
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(ProducerConfig("default"))
    assert (producer.config.acks, producer.config.idempotence) == ("all", None)
    with capture_logs() as logs:
        await producer.start()
        sent = [await producer.send(topic, b"%d" % i) for i in range(100)]
        landed = [await f for f in sent]
    assert logs == []
    assert _aiokafka_errors(caplog) == []
    assert producer.idempotent is True
    assert [md.offset for md in landed] == list(range(100))
    assert await _read_values(transport, topic, names("g"), 100) == [
        (i, b"%d" % i) for i in range(100)
    ]


async def test_required_idempotence_starts_on_apache_kafka(transport: KafkaTransport) -> None:
    """producer_idempotence=True: Apache Kafka grants it; start() succeeds."""
    producer = transport.create_producer(ProducerConfig("required", idempotence=True))
    await producer.start()
    assert producer.idempotent is True


async def test_by_default_the_producer_falls_back_once_and_loses_nothing(
    refusing: KafkaTransport, names: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """A refused idempotence: one warning saying why and how to silence it; no loss, no dup."""
    caplog.set_level(logging.WARNING, logger="aiokafka")
    topic = names("t")
    await refusing.create_topics([TopicSpec(topic, 1)])
    producer = refusing.create_producer(ProducerConfig("default"))
    with capture_logs() as logs:
        await producer.start()
        sent = [await producer.send(topic, b"%d" % i) for i in range(100)]
        landed = [await f for f in sent]

    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("producer_idempotence_unavailable", "warning")
    ]
    assert "refused" in logs[0]["reason"]
    assert "InitProducerId" in logs[0]["reason"]
    assert logs[0]["silence"] == "set producer_idempotence=False"
    assert _aiokafka_errors(caplog) == []  # not aiokafka's own ERROR line as well
    assert producer.idempotent is False
    assert [md.offset for md in landed] == list(range(100))
    assert await _read_values(refusing, topic, names("g"), 100) == [
        (i, b"%d" % i) for i in range(100)
    ]


async def test_required_idempotence_fails_to_start_with_what_to_do(
    refusing: KafkaTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """Required idempotence that is refused fails start() with what to change."""
    caplog.set_level(logging.WARNING, logger="aiokafka")
    producer = refusing.create_producer(ProducerConfig("required", idempotence=True))
    with pytest.raises(ConfigurationError, match="requires idempotence") as info:
        await producer.start()
    message = str(info.value)
    assert "producer_idempotence=True" in message
    assert "refused" in message
    assert "InitProducerId" in message
    assert "producer_idempotence=None" in message
    assert _aiokafka_errors(caplog) == []
    with pytest.raises(AppStateError, match="before start"):
        await producer.send("t", b"v")


@pytest.mark.parametrize(("acks", "idempotence"), [("all", False), (1, None), (0, None)], ids=str)
async def test_without_idempotence_the_producer_starts_silently_and_delivers(
    transport: KafkaTransport,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
    acks: Literal[0, 1, "all"],
    idempotence: bool | None,
) -> None:
    """Idempotence off, or acks 0/1: no warning, all records arrive (acks=0: offsets -1)."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(
        ProducerConfig("plain", acks=acks, idempotence=idempotence)
    )
    with capture_logs() as logs:
        await producer.start()
        sent = [await producer.send(topic, b"%d" % i) for i in range(20)]
        landed = [await f for f in sent]
    assert logs == []
    assert producer.idempotent is False
    assert [md.offset for md in landed] == ([-1] * 20 if acks == 0 else list(range(20)))
    assert await _read_values(transport, topic, names("g"), 20) == [
        (i, b"%d" % i) for i in range(20)
    ]


async def test_gzip_compressed_records_round_trip(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """With gzip compression, keys, values and headers come back exactly as sent."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(
        ProducerConfig("gzip", compression="gzip", linger=0.05, idempotence=False)
    )
    await producer.start()
    values = [(b"record %d " % i) * 500 for i in range(30)]
    for i, value in enumerate(values):
        await producer.send(topic, value, key=b"k%d" % i, headers=[("n", b"%d" % i)])
    await producer.flush()

    consumer, _ = await make_consumer("c", [topic], group_id=names("g"))
    got = (await consume(consumer, 30))[TopicPartition(topic, 0)]
    assert [(m.key, m.value, list(m.headers)) for m in got] == [
        (b"k%d" % i, value, [("n", b"%d" % i)]) for i, value in enumerate(values)
    ]


async def test_a_record_over_the_max_request_size_is_refused(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """A record bigger than producer_max_request_size fails its send, saying so."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(ProducerConfig("small", max_request_size=1024))
    await producer.start()
    with pytest.raises(TransportError, match="larger than the maximum request size"):
        await producer.send(topic, b"x" * 2000)


async def test_an_apps_producer_settings_reach_the_kafka_producer(
    tansu_url: str, names: Callable[[str], str]
) -> None:
    """App(producer_idempotence=True) on a broker that refuses it fails its first send."""
    app = App(names("app"), broker=tansu_url, producer_idempotence=True)
    try:
        with pytest.raises(ConfigurationError, match="requires idempotence"):
            await app.topic(names("t")).send(value=1)
    finally:
        await app.stop()


async def test_an_app_on_apache_kafka_sends_idempotently_without_a_warning(
    kafka_url: str, names: Callable[[str], str]
) -> None:
    """An app with the default settings on Apache Kafka: its sends are acked and nothing
    about idempotence is logged (it is on); requiring it works too."""
    topic = names("t")
    for settings in ({}, {"producer_idempotence": True}):
        app = App(names("app"), broker=kafka_url, **settings)
        try:
            with capture_logs() as logs:
                landed = await (await app.topic(topic, partitions=1).send(value=1))
        finally:
            await app.stop()
        assert landed.topic == topic
        assert [e for e in logs if "idempotence" in e["event"]] == []
