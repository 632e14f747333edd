"""Consumer groups: splitting partitions, eager rebalances, commits, leaving, crashing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from rxstreams.errors import BrokerUnavailableError, CommitFailedError
from rxstreams.messages import Message, TopicPartition
from rxstreams.types import ConsumerConfig
from rxstreams_memory import MemoryBroker, MemoryConsumer, MemoryProducer, MemoryTransport

pytestmark = pytest.mark.looptime  # waits in getmany cost no real time


def tps(topic: str, *partitions: int) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(topic, p) for p in partitions)


def offsets(batch: Mapping[TopicPartition, Sequence[Message]]) -> dict[TopicPartition, list[int]]:
    return {tp: [m.offset for m in msgs] for tp, msgs in batch.items()}


async def poll(
    *consumers: MemoryConsumer, timeout: float = 5.0
) -> list[dict[TopicPartition, list[Message]]]:
    """One getmany on every consumer at once, as separate worker processes would do."""
    return list(await asyncio.gather(*(c.getmany(timeout=timeout) for c in consumers)))


def fill(producer: MemoryProducer, partitions: int, count: int) -> None:
    for p in range(partitions):
        for i in range(count):
            producer.send_soon("t", b"%d-%d" % (p, i), partition=p)


async def test_two_members_split_the_partitions_evenly(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """Two members of a group own two partitions each and read only those."""
    broker.create_topic("t", 4)
    fill(producer, 4, 3)
    a, _ = await make_consumer("a")
    b, _ = await make_consumer("b")
    got_a, got_b = await poll(a, b)
    assert len(a.assignment()) == len(b.assignment()) == 2
    assert a.assignment() | b.assignment() == tps("t", 0, 1, 2, 3)
    assert set(got_a) == a.assignment()
    assert set(got_b) == b.assignment()
    assert broker.group_assignment("g") == {
        a.member_id: a.assignment(),
        b.member_id: b.assignment(),
    }


async def test_a_join_revokes_everything_before_assigning_and_keeps_revoke_commits(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any, journal: list[Any]
) -> None:
    """When a third member joins, all revokes (and their commits) precede every assign.

    The offsets committed in the revoke listener are accepted, and every new owner,
    the newcomer included, starts exactly at them.
    """
    broker.create_topic("t", 3)
    fill(producer, 3, 10)
    a, listen_a = await make_consumer("a")
    b, listen_b = await make_consumer("b")
    await poll(a, b)
    listen_a.to_commit = dict.fromkeys(a.assignment(), 4)  # acked 0..3 of each partition
    listen_b.to_commit = dict.fromkeys(b.assignment(), 4)
    journal.clear()

    c, _ = await make_consumer("c")
    got = await poll(a, b, c)

    steps = [(name, step) for name, step, _ in journal]
    first_assign = steps.index(next(s for s in steps if s[1] == "assigned"))
    assert sorted(steps[:first_assign]) == [
        ("a", "committed"), ("a", "revoked"), ("b", "committed"), ("b", "revoked"),
    ]  # fmt: skip
    assert sorted(steps[first_assign:]) == [("a", "assigned"), ("b", "assigned"), ("c", "assigned")]
    assert [broker.committed("g", tp) for tp in sorted(tps("t", 0, 1, 2))] == [4, 4, 4]
    assert [len(consumer.assignment()) for consumer in (a, b, c)] == [1, 1, 1]
    for consumer, batch in zip((a, b, c), got, strict=True):
        (tp,) = consumer.assignment()
        assert offsets(batch) == {tp: list(range(4, 10))}


async def test_a_graceful_leave_moves_partitions_to_the_others(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any, journal: list[Any]
) -> None:
    """After stop(), the leaver's partitions go to the others, from its last commit."""
    broker.create_topic("t", 2)
    fill(producer, 2, 10)
    a, _ = await make_consumer("a")
    b, _ = await make_consumer("b")
    await poll(a, b)
    (b_tp,) = b.assignment()
    await b.commit({b_tp: 6})
    await b.stop()
    journal.clear()

    got = await a.getmany(timeout=5)

    assert broker.group_members("g") == [a.member_id]
    assert a.assignment() == tps("t", 0, 1)
    assert offsets(got)[b_tp] == [6, 7, 8, 9]
    assert [name for name, _, _ in journal] == ["a", "a"]  # the leaver's listener is not called


async def test_a_crash_moves_partitions_and_redelivers_uncommitted_records(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any, journal: list[Any]
) -> None:
    """A crashed member commits nothing: its partitions restart from the last commit."""
    broker.create_topic("t", 2)
    fill(producer, 2, 10)
    a, _ = await make_consumer("a")
    b, _ = await make_consumer("b")
    _, got_b = await poll(a, b)
    (b_tp,) = b.assignment()
    assert offsets(got_b) == {b_tp: list(range(10))}
    await b.commit({b_tp: 3})  # records 3..9 were read but never committed
    waiting = asyncio.create_task(b.getmany(timeout=60))
    await asyncio.sleep(0)  # let it start waiting for records
    journal.clear()

    broker.crash(b)

    with pytest.raises(BrokerUnavailableError, match="crashed"):
        await waiting
    got_a = await a.getmany(timeout=5)
    assert a.assignment() == tps("t", 0, 1)
    assert offsets(got_a)[b_tp] == list(range(3, 10))
    assert broker.group_members("g") == [a.member_id]
    assert "b" not in {name for name, _, _ in journal}


async def test_a_crashed_consumer_refuses_every_call(
    broker: MemoryBroker, make_consumer: Any
) -> None:
    """After a crash, every call on the consumer raises BrokerUnavailableError."""
    broker.create_topic("t", 1)
    a, _ = await make_consumer("a")
    await a.getmany(timeout=0)
    a.crash()
    tp = TopicPartition("t", 0)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: a.getmany(timeout=0),
        lambda: a.commit({tp: 1}),
        lambda: a.committed(tp),
        lambda: a.stop(),
        lambda: a.start(),
    ]
    for call in calls:
        with pytest.raises(BrokerUnavailableError):
            await call()
    sync_calls: list[Callable[[], object]] = [
        a.assignment,
        a.paused,
        lambda: a.pause([tp]),
        lambda: a.highwater(tp),
    ]
    for sync_call in sync_calls:
        with pytest.raises(BrokerUnavailableError):
            sync_call()


async def test_a_member_missing_the_rebalance_deadline_is_expelled_and_fenced(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any, journal: list[Any]
) -> None:
    """A member that does not poll within rebalance_timeout is expelled; its commits fail.

    The others get its partitions when the deadline passes; the zombie notices at its next
    getmany: its revoke listener runs, then it rejoins as a new member.
    """
    broker.create_topic("t", 3)
    fill(producer, 3, 5)
    a, _ = await make_consumer("a", rebalance_timeout=5.0)
    b, _ = await make_consumer("b", rebalance_timeout=5.0)
    await poll(a, b)
    a_partitions = a.assignment()
    c, _ = await make_consumer("c", rebalance_timeout=5.0)  # starts a rebalance; a is busy
    loop = asyncio.get_running_loop()
    started = loop.time()

    await poll(b, c, timeout=60)

    assert loop.time() - started == pytest.approx(5.0)
    assert broker.group_members("g") == sorted([b.member_id, c.member_id])
    assert b.assignment() | c.assignment() == tps("t", 0, 1, 2)
    with pytest.raises(CommitFailedError, match="removed from the group"):
        await a.commit(dict.fromkeys(a_partitions, 1))
    assert broker.committed("g", min(a_partitions)) is None

    journal.clear()
    await poll(a, b, c)
    assert ("a", "revoked", a_partitions) in journal
    assert broker.group_members("g") == sorted([a.member_id, b.member_id, c.member_id])
    assert [len(x.assignment()) for x in (a, b, c)] == [1, 1, 1]


async def test_committing_a_partition_not_owned_is_refused(
    broker: MemoryBroker, make_consumer: Any
) -> None:
    """A member cannot commit for a partition assigned to another member."""
    broker.create_topic("t", 2)
    a, _ = await make_consumer("a")
    b, _ = await make_consumer("b")
    await poll(a, b, timeout=0)
    await poll(a, b, timeout=0)
    (b_tp,) = b.assignment()
    with pytest.raises(CommitFailedError, match="not assigned"):
        await a.commit({b_tp: 1})
    assert broker.committed("g", b_tp) is None


async def test_a_commit_before_the_first_assignment_is_refused(
    broker: MemoryBroker, make_consumer: Any
) -> None:
    """A member that has not taken its assignment yet cannot commit."""
    broker.create_topic("t", 1)
    a, _ = await make_consumer("a")
    with pytest.raises(CommitFailedError):
        await a.commit({TopicPartition("t", 0): 1})


async def test_new_and_grown_topics_are_assigned(
    broker: MemoryBroker, producer: MemoryProducer, make_consumer: Any
) -> None:
    """A subscribed topic that appears, or gains partitions, is assigned by a rebalance."""
    broker.create_topic("t", 1)
    a, _ = await make_consumer("a", topics=("t", "later"))
    await a.getmany(timeout=0)
    assert a.assignment() == tps("t", 0)
    generation = broker.group_generation("g")

    producer.send_soon("later", b"first")  # auto-created
    got = await a.getmany(timeout=5)
    assert a.assignment() == tps("t", 0) | tps("later", 0)
    assert [m.value for m in got[TopicPartition("later", 0)]] == [b"first"]

    broker.create_partitions("later", 2)
    producer.send_soon("later", b"second", partition=1)
    got = await a.getmany(timeout=5)
    assert TopicPartition("later", 1) in a.assignment()
    assert [m.value for m in got[TopicPartition("later", 1)]] == [b"second"]
    assert broker.group_generation("g") == generation + 2


async def test_members_with_different_subscriptions_share_only_common_topics(
    broker: MemoryBroker, make_consumer: Any
) -> None:
    """Each topic's partitions are spread over the members subscribed to that topic only."""
    broker.create_topic("t", 2)
    broker.create_topic("u", 2)
    a, _ = await make_consumer("a", topics=("t",))
    b, _ = await make_consumer("b", topics=("t", "u"))
    await poll(a, b, timeout=0)
    await poll(a, b, timeout=0)
    assert a.assignment() == tps("t", 0)
    assert b.assignment() == tps("t", 1) | tps("u", 0, 1)


async def test_rebalances_are_logged(broker: MemoryBroker, make_consumer: Any) -> None:
    """Joins, rebalances and assignments are logged as events with their context."""
    broker.create_topic("t", 2)
    with capture_logs() as logs:
        a, _ = await make_consumer("a")
        await a.getmany(timeout=0)
    events = [entry["event"] for entry in logs]
    assert events[:3] == ["group_member_joined", "group_rebalance_started", "group_rebalanced"]
    assigned = next(entry for entry in logs if entry["event"] == "partitions_assigned")
    assert assigned["group_id"] == "g"
    assert assigned["member_id"] == a.member_id
    assert assigned["partitions"] == sorted(tps("t", 0, 1))


class NullListener:
    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        pass


def test_members_left_on_a_closed_event_loop_do_not_block_the_group(
    broker: MemoryBroker,
) -> None:
    """A member abandoned by a finished event loop (a test, a notebook run) is dropped."""
    broker.create_topic("t", 2)
    transport = MemoryTransport(broker=broker)

    async def run(client_id: str) -> MemoryConsumer:
        consumer = transport.create_consumer(["t"], NullListener(), ConsumerConfig("g", client_id))
        await consumer.start()
        await consumer.getmany(timeout=0)
        return consumer  # never stopped

    asyncio.run(run("abandoned"))
    fresh = asyncio.run(run("fresh"))
    assert broker.group_members("g") == [fresh.member_id]
    assert broker.group_assignment("g") == {fresh.member_id: tps("t", 0, 1)}
