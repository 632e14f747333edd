"""The reader (no group): assign, seek, waiting fetches, fairness, out-of-range positions,
errors. What is the same on every broker is in ``tests/contract/test_reader.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from structlog.testing import capture_logs

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    ConfigurationError,
    UnknownTopicError,
)
from rxstreams.messages import TopicPartition
from rxstreams.types import MessageT, ProducerConfig, ReaderConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryReader, MemoryTransport

pytestmark = pytest.mark.looptime  # waits in getmany cost no real time

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))


def offsets(batch: Mapping[TopicPartition, Sequence[MessageT]]) -> dict[TopicPartition, list[int]]:
    return {tp: [m.offset for m in msgs] for tp, msgs in batch.items()}


def fill(producer: MemoryProducer, partitions: int, count: int) -> None:
    for p in range(partitions):
        for i in range(count):
            producer.send_soon("t", b"%d-%d" % (p, i), partition=p)


@pytest.fixture
async def reader(transport: MemoryTransport) -> AsyncIterator[MemoryReader]:
    """A started reader of the test's broker; stopped afterwards."""
    reader = transport.create_reader(ReaderConfig(client_id="reader"))
    await reader.start()
    yield reader
    await reader.stop()


async def test_a_new_partition_starts_at_its_log_start(
    broker: MemoryBroker, producer: MemoryProducer, reader: MemoryReader
) -> None:
    """Assigned without a seek, a partition is read from its oldest record; position and
    highwater are known at once."""
    broker.create_topic("t", 1)
    fill(producer, 1, 3)
    await reader.assign([T0])
    assert (reader.position(T0), reader.highwater(T0)) == (0, 3)
    assert offsets(await reader.getmany(timeout=0)) == {T0: [0, 1, 2]}
    assert reader.position(T0) == 3


async def test_waiting_getmany_wakes_as_soon_as_a_record_is_appended(
    broker: MemoryBroker, producer: MemoryProducer, reader: MemoryReader
) -> None:
    """After seek_to_end, a waiting getmany returns the next record the moment it is
    appended, not at its timeout."""
    broker.create_topic("t", 1)
    fill(producer, 1, 3)
    await reader.assign([T0])
    await reader.seek_to_end([T0])
    waiting = asyncio.create_task(reader.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    await producer.send("t", b"new", partition=0)
    assert offsets(await waiting) == {T0: [3]}
    assert asyncio.get_running_loop().time() < 1


async def test_getmany_returns_nothing_after_its_timeout(
    broker: MemoryBroker, reader: MemoryReader
) -> None:
    """With nothing to read, getmany returns {} when its timeout has passed (loop time)."""
    broker.create_topic("t", 1)
    await reader.assign([T0])
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await reader.getmany(timeout=2.5) == {}
    assert loop.time() - started == pytest.approx(2.5)


async def test_assign_and_seek_wake_a_waiting_getmany(
    broker: MemoryBroker, producer: MemoryProducer, reader: MemoryReader
) -> None:
    """A getmany waiting with nothing assigned, or at the end, returns records as soon as
    assign() or seek() makes some readable."""
    broker.create_topic("t", 2)
    fill(producer, 2, 2)
    waiting = asyncio.create_task(reader.getmany(timeout=60))
    await asyncio.sleep(0)
    await reader.assign([T1])
    assert offsets(await waiting) == {T1: [0, 1]}
    waiting = asyncio.create_task(reader.getmany(timeout=60))
    await asyncio.sleep(0)
    reader.seek(T1, 1)
    assert offsets(await waiting) == {T1: [1]}
    assert asyncio.get_running_loop().time() < 1


async def test_stop_ends_a_waiting_getmany(broker: MemoryBroker, reader: MemoryReader) -> None:
    """stop() makes a waiting getmany return {}; later calls raise BrokerUnavailableError."""
    broker.create_topic("t", 1)
    await reader.assign([T0])
    waiting = asyncio.create_task(reader.getmany(timeout=60))
    await asyncio.sleep(0)
    await reader.stop()
    assert await waiting == {}
    assert asyncio.get_running_loop().time() < 1
    with pytest.raises(BrokerUnavailableError, match="stopped reader"):
        await reader.getmany(timeout=0)
    with pytest.raises(AppStateError, match="cannot be started again"):
        await reader.start()


async def test_a_full_batch_is_shared_fairly(
    broker: MemoryBroker, producer: MemoryProducer, transport: MemoryTransport
) -> None:
    """With more records than max_poll_records, each partition gets a share, and the
    partition served first rotates, so none is starved."""
    broker.create_topic("t", 3)
    fill(producer, 3, 10)
    reader = transport.create_reader(ReaderConfig(client_id="r", max_poll_records=6))
    await reader.start()
    await reader.assign([T0, T1, T2])
    assert offsets(await reader.getmany(timeout=0)) == {T0: [0, 1], T1: [0, 1], T2: [0, 1]}
    first = offsets(await reader.getmany(timeout=0, max_records=2))
    second = offsets(await reader.getmany(timeout=0, max_records=2))
    assert first != second
    assert sum(len(o) for o in (*first.values(), *second.values())) == 4


async def test_a_position_outside_the_log_moves_to_its_start() -> None:
    """A seek past the end, or a position that retention left behind, is read from the
    log start (as Kafka's auto.offset.reset=earliest), with an offset_reset log line."""
    broker = MemoryBroker(retention_messages=3)
    transport = MemoryTransport(broker=broker)
    producer = transport.create_producer(ProducerConfig(client_id="p"))
    reader = transport.create_reader(ReaderConfig(client_id="r"))
    await reader.start()
    broker.create_topic("t", 1)
    fill(producer, 1, 2)
    await reader.assign([T0])
    reader.seek(T0, 10)
    with capture_logs() as logs:
        assert offsets(await reader.getmany(timeout=0)) == {T0: [0, 1]}
    assert [(e["event"], e["position"], e["reset_to"]) for e in logs] == [("offset_reset", 10, 0)]
    fill(producer, 1, 5)  # offsets 2..6; retention keeps 4, 5, 6
    assert offsets(await reader.getmany(timeout=0)) == {T0: [4, 5, 6]}


async def test_misuse_raises_clear_errors(broker: MemoryBroker, reader: MemoryReader) -> None:
    """Unknown topics and partitions, unassigned partitions, bad offsets and limits raise
    rxstreams errors that say what to do."""
    broker.create_topic("t", 2)
    with pytest.raises(UnknownTopicError, match="'nope': it does not exist"):
        await reader.partitions_for("nope")
    with pytest.raises(UnknownTopicError, match="'nope'"):
        await reader.assign([T0, TopicPartition("nope", 0)])
    with pytest.raises(UnknownTopicError, match=r"has 2 partition\(s\)"):
        await reader.assign([T2])
    assert reader.assignment() == frozenset()  # a failed assign changes nothing
    await reader.assign([T0])
    with pytest.raises(AppStateError, match="not assigned"):
        reader.seek(T1, 0)
    with pytest.raises(AppStateError, match="assign them first"):
        await reader.seek_to_end([T1])
    with pytest.raises(ConfigurationError, match="int >= 0"):
        reader.seek(T0, -1)
    with pytest.raises(ConfigurationError, match="single"):
        await reader.assign(T0)  # type: ignore[arg-type]  # the mistake under test
    with pytest.raises(ConfigurationError, match="max_records"):
        await reader.getmany(timeout=0, max_records=0)


async def test_everything_but_stop_needs_start(transport: MemoryTransport) -> None:
    """Before start(), every call raises AppStateError naming the call; stop() is fine."""
    reader = transport.create_reader(ReaderConfig(client_id="r"))
    with pytest.raises(AppStateError, match=r"partitions_for\(\) before start\(\)"):
        await reader.partitions_for("t")
    with pytest.raises(AppStateError, match=r"assign\(\) before start\(\)"):
        await reader.assign([T0])
    with pytest.raises(AppStateError, match=r"getmany\(\) before start\(\)"):
        await reader.getmany(timeout=0)
    await reader.stop()


async def test_closing_the_transport_stops_its_readers(
    broker: MemoryBroker, transport: MemoryTransport, reader: MemoryReader
) -> None:
    """MemoryTransport.close() stops the readers it opened."""
    broker.create_topic("t", 1)
    await reader.assign([T0])
    await transport.close()
    assert reader.stopped
    assert reader.assignment() == frozenset()
