"""The reader against Apache Kafka: what is particular to aiokafka and this broker — the end of
a partition already read, waits with nothing assigned, concurrent calls, errors. What is
the same on every broker is in ``tests/contract/test_reader.py``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from rxstreams.errors import BrokerUnavailableError
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ReaderConfig
from rxstreams_kafka import KafkaProducer, KafkaReader, KafkaTransport

pytestmark = pytest.mark.kafka


async def fill(producer: KafkaProducer, topic: str, count: int, *, start: int = 0) -> None:
    """``count`` records in partition 0, sent as one batch, on the broker when this returns."""
    futures = [
        await producer.send(topic, b"%d" % i, partition=0) for i in range(start, start + count)
    ]
    await asyncio.gather(*futures)


async def read(reader: KafkaReader, count: int, *, within: float = 10) -> list[int]:
    """The offsets of the next ``count`` records."""
    got: list[int] = []
    async with asyncio.timeout(within):
        while len(got) < count:
            for messages in (await reader.getmany(timeout=0.2)).values():
                got.extend(m.offset for m in messages)
    return got


@pytest.fixture
async def reader(transport: KafkaTransport) -> KafkaReader:
    """A started reader with short fetch waits (the transport stops it)."""
    reader = transport.create_reader(ReaderConfig(client_id="test-reader", fetch_max_wait=0.05))
    await reader.start()
    return reader


async def test_seek_to_end_of_a_partition_read_before_ignores_its_old_end(
    transport: KafkaTransport,
    producer: KafkaProducer,
    reader: KafkaReader,
    names: Callable[[str], str],
) -> None:
    """A partition already read knows an old end (highwater); after another batch,
    seek_to_end still lands after that batch, not at the old end or inside the batch."""
    topic = names("t")
    tp = TopicPartition(topic, 0)
    await transport.create_topics([TopicSpec(topic, 1)])
    await fill(producer, topic, 5)
    await reader.assign([tp])
    assert await read(reader, 5) == [0, 1, 2, 3, 4]
    assert reader.highwater(tp) == 5
    await fill(producer, topic, 10, start=5)
    await reader.seek_to_end([tp])
    assert reader.position(tp) == 15
    await fill(producer, topic, 1, start=15)
    assert await read(reader, 1) == [15]


async def test_getmany_with_nothing_assigned_waits_until_assign(
    transport: KafkaTransport, reader: KafkaReader, names: Callable[[str], str]
) -> None:
    """With nothing assigned, getmany waits its timeout, or returns {} once assign() runs."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await reader.getmany(timeout=0.2) == {}
    assert loop.time() - started >= 0.2
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    waiting = asyncio.create_task(reader.getmany(timeout=30))
    await asyncio.sleep(0)  # let it start waiting
    await reader.assign([TopicPartition(topic, 0)])
    async with asyncio.timeout(5):
        assert await waiting == {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_unreachable_broker_is_a_retriable_broker_unavailable_error() -> None:
    """With nothing listening, start() raises BrokerUnavailableError (retriable) quickly."""
    transport = KafkaTransport(f"kafka://127.0.0.1:{_free_port()}")
    reader = transport.create_reader(ReaderConfig(client_id="r"))
    async with asyncio.timeout(10):
        with pytest.raises(BrokerUnavailableError, match="connecting reader 'r'") as info:
            await reader.start()
    assert info.value.retriable
    await transport.close()


async def test_closing_the_transport_stops_its_readers(
    kafka_url: str, names: Callable[[str], str]
) -> None:
    """close() stops the readers it opened: they then raise BrokerUnavailableError."""
    transport = KafkaTransport(kafka_url)
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    reader = transport.create_reader(ReaderConfig(client_id="r"))
    await reader.start()
    await reader.assign([TopicPartition(topic, 0)])
    await transport.close()
    assert reader.stopped
    with pytest.raises(BrokerUnavailableError, match="stopped reader"):
        await reader.getmany(timeout=0)
    with pytest.raises(BrokerUnavailableError, match="closed"):
        transport.create_reader(ReaderConfig(client_id="r"))
