"""Readers (``TransportT.create_reader``), the same on every broker: a topic's partitions
read from where they are told, in order, to their end, without any consumer group."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import TopicPartition
from rxstreams.errors import AppStateError, UnknownTopicError
from rxstreams.types import MessageT, ReaderConfig, ReaderT
from tests.contract.conftest import Cluster, values


def at_end(reader: ReaderT) -> bool:
    """True when every assigned partition is read up to its known end."""
    for tp in reader.assignment():
        position, end = reader.position(tp), reader.highwater(tp)
        if position is None or end is None or position < end:
            return False
    return True


async def read_to_end(reader: ReaderT, *, within: float = 15) -> dict[int, list[MessageT]]:
    """Fetch until every assigned partition is at its end; the records by partition."""
    got: dict[int, list[MessageT]] = {tp.partition: [] for tp in reader.assignment()}
    async with asyncio.timeout(within):
        while not at_end(reader):
            for tp, messages in (await reader.getmany(timeout=0.2)).items():
                got[tp.partition].extend(messages)
    return got


async def read_count(reader: ReaderT, count: int, *, within: float = 15) -> list[MessageT]:
    """Fetch until ``count`` records arrived, partition by partition in arrival order."""
    got: list[MessageT] = []
    async with asyncio.timeout(within):
        while len(got) < count:
            for messages in (await reader.getmany(timeout=0.2)).values():
                got.extend(messages)
    return got


async def test_reads_every_partition_from_the_beginning_in_order(cluster: Cluster) -> None:
    """partitions_for + assign + seek_to_beginning reads each partition whole, in order."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 3)
    await cluster.produce(topic, [(None, i) for i in range(30)], partition=lambda _, v: v % 3)
    reader = await cluster.reader()
    partitions = [TopicPartition(topic, p) for p in await reader.partitions_for(topic)]
    assert [tp.partition for tp in partitions] == [0, 1, 2]
    await reader.assign(partitions)
    await reader.seek_to_beginning(partitions)
    got = await read_to_end(reader)
    assert {p: values(messages) for p, messages in got.items()} == {
        p: list(range(p, 30, 3)) for p in range(3)
    }
    assert {p: [m.offset for m in messages] for p, messages in got.items()} == {
        p: list(range(10)) for p in range(3)
    }


async def test_seek_starts_at_the_offset(cluster: Cluster) -> None:
    """After seek(tp, 7) the first record read is offset 7; seek back re-reads."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 1)
    await cluster.produce(topic, [(None, i) for i in range(10)])
    reader = await cluster.reader()
    tp = TopicPartition(topic, 0)
    await reader.assign([tp])
    reader.seek(tp, 7)
    assert values((await read_to_end(reader))[0]) == [7, 8, 9]
    reader.seek(tp, 2)
    assert values(await read_count(reader, 8)) == list(range(2, 10))


async def test_seek_to_end_reads_only_what_is_produced_afterwards(cluster: Cluster) -> None:
    """After seek_to_end, right after a batched produce, only records produced later are
    read, from the first of them."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 2)
    await cluster.produce(topic, [(None, i) for i in range(20)], partition=lambda _, v: v % 2)
    reader = await cluster.reader()
    partitions = [TopicPartition(topic, p) for p in await reader.partitions_for(topic)]
    await reader.assign(partitions)
    await reader.seek_to_end(partitions)
    assert {reader.position(tp) for tp in partitions} == {10}
    await cluster.produce(topic, [(None, i) for i in range(100, 106)], partition=lambda _, v: v % 2)
    got = await read_count(reader, 6)
    assert sorted(values(got)) == list(range(100, 106))
    assert sorted(m.offset for m in got) == [10, 10, 11, 11, 12, 12]


async def test_a_seek_past_the_end_reads_from_the_log_start(cluster: Cluster) -> None:
    """A position past the end of the log moves to the log start (Kafka answers
    OFFSET_OUT_OF_RANGE, and the reader resets to the earliest offset)."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 1)
    await cluster.produce(topic, [(None, i) for i in range(3)])
    reader = await cluster.reader()
    tp = TopicPartition(topic, 0)
    await reader.assign([tp])
    reader.seek(tp, 50)
    assert values(await read_count(reader, 3)) == [0, 1, 2]


async def test_reassigning_keeps_the_position_of_kept_partitions(cluster: Cluster) -> None:
    """assign() replaces the assignment: a kept partition reads on from where it was, a
    new one starts at its log start, a dropped one is no longer read."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 3)
    await cluster.produce(topic, [(None, i) for i in range(9)], partition=lambda _, v: v % 3)
    reader = await cluster.reader()
    t0, t1, t2 = (TopicPartition(topic, p) for p in range(3))
    await reader.assign([t0, t1])
    reader.seek(t0, 1)
    reader.seek(t1, 3)  # the end: nothing to read
    assert values((await read_to_end(reader))[0]) == [3, 6]
    reader.seek(t0, 2)
    await reader.assign([t0, t2])
    assert reader.assignment() == {t0, t2}
    got = await read_to_end(reader)
    assert {p: values(messages) for p, messages in got.items()} == {0: [6], 2: [2, 5, 8]}
    assert reader.position(t1) is None


async def test_reading_creates_no_consumer_group(cluster: Cluster) -> None:
    """A reader leaves no consumer group on the broker: none is listed afterwards."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 2)
    await cluster.produce(topic, [(None, i) for i in range(4)], partition=lambda _, v: v % 2)
    before = await cluster.groups()
    reader = await cluster.reader(cluster.name("groupless"))
    partitions = [TopicPartition(topic, p) for p in await reader.partitions_for(topic)]
    await reader.assign(partitions)
    await reader.seek_to_beginning(partitions)
    assert sum(len(m) for m in (await read_to_end(reader)).values()) == 4
    await reader.seek_to_end(partitions)
    await reader.stop()
    assert await cluster.groups() == before


async def test_unknown_topics_and_partitions_raise_unknown_topic_error(cluster: Cluster) -> None:
    """partitions_for and assign name a topic or partition that does not exist, and a
    failed assign changes nothing."""
    topic = cluster.name("log")
    await cluster.create_topic(topic, 2)
    reader = await cluster.reader()
    missing = cluster.name("missing")
    with pytest.raises(UnknownTopicError, match=f"'{missing}': it does not exist"):
        await reader.partitions_for(missing)
    with pytest.raises(UnknownTopicError, match=f"'{missing}'"):
        await reader.assign([TopicPartition(topic, 0), TopicPartition(missing, 0)])
    with pytest.raises(UnknownTopicError, match=r"has 2 partition\(s\)"):
        await reader.assign([TopicPartition(topic, 2)])
    assert reader.assignment() == frozenset()


async def test_a_reader_must_be_started_first(cluster: Cluster) -> None:
    """Every call before start() raises AppStateError saying to start the reader."""
    transport = cluster._transport
    reader = transport.create_reader(ReaderConfig(client_id="unstarted"))
    with pytest.raises(AppStateError, match=r"assign\(\) before start\(\)"):
        await reader.assign([TopicPartition("t", 0)])
    with pytest.raises(AppStateError, match=r"getmany\(\) before start\(\)"):
        await reader.getmany(timeout=0)
    await reader.stop()
