"""The consumer: positions, offset reset, pause, fairness, waiting, independence of groups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from rxstreams.errors import AppStateError, BrokerUnavailableError, ConfigurationError
from rxstreams.messages import Message, TopicPartition
from rxstreams.types import ConsumerConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryTransport

pytestmark = pytest.mark.looptime  # waits in getmany cost no real time

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))


def offsets(batch: Mapping[TopicPartition, Sequence[Message]]) -> dict[TopicPartition, list[int]]:
    return {tp: [m.offset for m in msgs] for tp, msgs in batch.items()}


def fill(producer: MemoryProducer, partitions: int, count: int) -> None:
    for p in range(partitions):
        for i in range(count):
            producer.send_soon("t", b"%d-%d" % (p, i), partition=p)


async def test_earliest_reads_from_the_log_start(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """With no committed offset, auto_offset_reset='earliest' starts at the oldest record."""
    fill(producer, 1, 5)
    consumer, _ = await make_consumer("a", auto_offset_reset="earliest")
    assert offsets(await consumer.getmany(timeout=1)) == {T0: [0, 1, 2, 3, 4]}


async def test_latest_reads_only_new_records(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """With no committed offset, auto_offset_reset='latest' skips what was already there."""
    fill(producer, 1, 5)
    consumer, _ = await make_consumer("a", auto_offset_reset="latest")
    assert await consumer.getmany(timeout=1) == {}
    producer.send_soon("t", b"new")
    got = await consumer.getmany(timeout=1)
    assert [m.value for m in got[T0]] == [b"new"]


async def test_a_committed_offset_wins_over_the_reset_policy(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """A new member of a group resumes at the group's committed offset."""
    fill(producer, 1, 5)
    first, _ = await make_consumer("a")
    await first.getmany(timeout=1)
    await first.commit({T0: 2})
    await first.stop()
    second, _ = await make_consumer("b", auto_offset_reset="latest")
    assert offsets(await second.getmany(timeout=1)) == {T0: [2, 3, 4]}


@pytest.mark.parametrize("broker", [MemoryBroker(retention_messages=5)], ids=["retention5"])
async def test_positions_removed_by_retention_are_reset(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """A committed offset or a position below the log start follows auto_offset_reset."""
    fill(producer, 1, 3)
    first, _ = await make_consumer("a")
    await first.getmany(timeout=1, max_records=1)
    await first.commit({T0: 1})
    await first.stop()
    fill(producer, 1, 7)  # offsets 3..9; retention keeps 5..9
    assert broker.start_offset(T0) == 5

    second, _ = await make_consumer("b")
    assert offsets(await second.getmany(timeout=1, max_records=2)) == {T0: [5, 6]}
    fill(producer, 1, 10)  # offsets 10..19; retention keeps 15..19, past the position 7
    assert offsets(await second.getmany(timeout=1)) == {T0: [15, 16, 17, 18, 19]}


async def test_pause_and_resume(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """Paused partitions return nothing until resumed; resume wakes a waiting getmany."""
    broker.create_topic("t", 2)
    consumer, _ = await make_consumer("a")
    await consumer.getmany(timeout=0)
    consumer.pause([T0])
    assert consumer.paused() == frozenset({T0})
    fill(producer, 2, 2)
    assert offsets(await consumer.getmany(timeout=1)) == {T1: [0, 1]}

    waiting = asyncio.create_task(consumer.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    consumer.resume([T0])
    assert offsets(await waiting) == {T0: [0, 1]}
    assert asyncio.get_running_loop().time() < 1


async def test_pauses_are_dropped_by_a_rebalance(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """After a rebalance, partitions that were paused are fetched again."""
    broker.create_topic("t", 1)
    a, _ = await make_consumer("a")
    await a.getmany(timeout=0)
    a.pause([T0])
    other, _ = await make_consumer("b", topics=("u",))  # another topic, same group: rebalance
    fill(producer, 1, 1)
    got, _ = await asyncio.gather(a.getmany(timeout=1), other.getmany(timeout=1))
    assert a.paused() == frozenset()
    assert offsets(got) == {T0: [0]}


async def test_max_records_is_shared_fairly_across_partitions(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """A batch takes an even share from each partition with data, then fills up the rest."""
    broker.create_topic("t", 3)
    fill(producer, 3, 5)
    for _ in range(95):
        producer.send_soon("t", b"x", partition=2)
    consumer, _ = await make_consumer("a")
    got = await consumer.getmany(timeout=1, max_records=12)
    assert {tp: len(msgs) for tp, msgs in got.items()} == {T0: 4, T1: 4, T2: 4}
    got = await consumer.getmany(timeout=1, max_records=30)
    assert {tp: len(msgs) for tp, msgs in got.items()} == {T0: 1, T1: 1, T2: 28}
    got = await consumer.getmany(timeout=1)
    assert offsets(got) == {T2: list(range(32, 100))}


async def test_no_partition_is_starved_by_small_batches(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """With fewer records per batch than partitions, successive batches rotate over all."""
    broker.create_topic("t", 3)
    fill(producer, 3, 10)
    consumer, _ = await make_consumer("a")
    served = [set(await consumer.getmany(timeout=1, max_records=1)) for _ in range(3)]
    assert set().union(*served) == {T0, T1, T2}


async def test_max_poll_records_is_the_default_batch_limit(
    producer: MemoryProducer, make_consumer: Any
) -> None:
    """Without max_records, a batch holds at most config.max_poll_records records."""
    fill(producer, 1, 10)
    consumer, _ = await make_consumer("a", max_poll_records=4)
    assert offsets(await consumer.getmany(timeout=1)) == {T0: [0, 1, 2, 3]}
    with pytest.raises(ConfigurationError):
        await consumer.getmany(timeout=1, max_records=0)


async def test_getmany_wakes_as_soon_as_a_record_arrives(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """A waiting getmany returns the record appended to its partition, without waiting on."""
    broker.create_topic("t", 1)
    consumer, _ = await make_consumer("a")
    await consumer.getmany(timeout=0)
    waiting = asyncio.create_task(consumer.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    await producer.send("t", b"hello")
    got = await waiting
    assert [m.value for m in got[T0]] == [b"hello"]
    assert asyncio.get_running_loop().time() < 1


async def test_getmany_returns_nothing_after_its_timeout(
    broker: MemoryBroker, make_consumer: Any
) -> None:
    """With no records, getmany returns {} once the timeout has passed (loop time)."""
    broker.create_topic("t", 1)
    consumer, _ = await make_consumer("a")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await consumer.getmany(timeout=2.5) == {}
    assert loop.time() - started == pytest.approx(2.5)


async def test_stop_ends_a_waiting_getmany(broker: MemoryBroker, make_consumer: Any) -> None:
    """stop() makes a waiting getmany return {}; later calls raise BrokerUnavailableError."""
    broker.create_topic("t", 1)
    consumer, _ = await make_consumer("a")
    waiting = asyncio.create_task(consumer.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    await consumer.stop()
    assert await waiting == {}
    assert asyncio.get_running_loop().time() < 1
    assert broker.group_members("g") == []
    with pytest.raises(BrokerUnavailableError, match="stopped"):
        await consumer.getmany(timeout=0)
    with pytest.raises(AppStateError):
        await consumer.start()


async def test_getmany_before_start_is_an_error(make_consumer: Any) -> None:
    """getmany and commit need start() first; one getmany at a time."""
    consumer, _ = await make_consumer("a", start=False)
    with pytest.raises(AppStateError, match="start"):
        await consumer.getmany(timeout=0)
    await consumer.start()
    waiting = asyncio.create_task(consumer.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting
    with pytest.raises(AppStateError, match="already running"):
        await consumer.getmany(timeout=0)
    await consumer.stop()
    await waiting


async def test_records_are_the_stored_objects(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """Consumers get the stored Message objects themselves, shared with every reader."""
    fill(producer, 1, 3)
    a, _ = await make_consumer("a")
    b, _ = await make_consumer("b", group_id="other")
    got_a = await a.getmany(timeout=1)
    got_b = await b.getmany(timeout=1)
    stored = broker.records(T0)
    assert all(x is y for x, y in zip(got_a[T0], stored, strict=True))
    assert all(x is y for x, y in zip(got_b[T0], stored, strict=True))


async def test_a_second_group_reads_independently(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """Another group reads the same topic from its own committed offsets."""
    fill(producer, 1, 5)
    a, _ = await make_consumer("a", group_id="one")
    b, _ = await make_consumer("b", group_id="two")
    await a.getmany(timeout=1)
    await a.commit({T0: 5})
    assert offsets(await b.getmany(timeout=1)) == {T0: [0, 1, 2, 3, 4]}
    await b.commit({T0: 2})
    assert (await a.committed(T0), await b.committed(T0)) == (5, 2)
    assert (broker.committed("one", T0), broker.committed("two", T0)) == (5, 2)
    assert broker.group_members("one") == [a.member_id]


async def test_highwater_is_the_end_of_an_assigned_partition(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """highwater() gives the log end of assigned partitions, None for the others."""
    fill(producer, 1, 4)
    consumer, _ = await make_consumer("a")
    assert consumer.highwater(T0) is None
    await consumer.getmany(timeout=1, max_records=1)
    assert consumer.highwater(T0) == 4
    assert consumer.highwater(TopicPartition("elsewhere", 0)) is None


async def test_a_failing_listener_surfaces_but_the_rebalance_goes_on(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """An error in the revoke listener comes out of getmany; the next getmany goes on."""
    broker.create_topic("t", 2)
    fill(producer, 2, 1)
    a, listen_a = await make_consumer("a")
    await a.getmany(timeout=1)
    listen_a.fail_on_revoke = RuntimeError("boom")
    b, _ = await make_consumer("b")
    with pytest.raises(RuntimeError, match="boom"):
        await a.getmany(timeout=1)
    assert a.assignment() == frozenset()
    listen_a.fail_on_revoke = None
    got_a, _ = await asyncio.gather(a.getmany(timeout=1), b.getmany(timeout=1))
    assert len(a.assignment()) == len(b.assignment()) == 1
    assert set(got_a) == a.assignment()


def test_a_topic_string_is_not_a_subscription(transport: Any) -> None:
    """Passing a single string as topics is refused instead of subscribing to letters."""
    from rxstreams.types import ConsumerConfig

    with pytest.raises(ConfigurationError, match="collection of topic names"):
        transport.create_consumer("t", object(), ConsumerConfig(group_id="g", client_id="c"))


async def test_subscribe_widens_the_assignment(broker: MemoryBroker) -> None:
    """subscribe() with another topic rebalances and the member gets its partitions."""
    broker.create_topic("a", 1)
    broker.create_topic("b", 2)
    transport = MemoryTransport(broker=broker)

    class Listener:
        async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
            pass

        async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
            pass

    consumer = transport.create_consumer(
        ["a"], Listener(), ConsumerConfig(group_id="g", client_id="c")
    )
    await consumer.start()
    await consumer.getmany(timeout=0.01)
    assert consumer.assignment() == {TopicPartition("a", 0)}
    consumer.subscribe(["a", "b"])
    await consumer.getmany(timeout=0.01)
    assert consumer.assignment() == {
        TopicPartition("a", 0),
        TopicPartition("b", 0),
        TopicPartition("b", 1),
    }
    await consumer.stop()
