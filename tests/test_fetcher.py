"""The fetch loop and rebalances: groups split partitions, leaving and crashing members."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest

from rxstreams import App, Stream, TopicPartition, current_event
from rxstreams.testing import crash, in_flight, rebalances, wait_assigned
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime

PARTS = 4


def worker(
    make_app: AppFactory, name: str, seen: dict[str, list[tuple[int, int]]], **settings: Any
) -> App:
    """An app in group 'grp' recording (partition, value) per worker."""
    settings.setdefault("commit_interval", 1.0)
    app = make_app("grp", topic_partitions=PARTS, **settings)

    @app.agent(app.topic("jobs"), name="work")
    async def work(stream: Stream[int]) -> None:
        async for v in stream:
            seen[name].append((current_event().message.partition, v))  # type: ignore[union-attr]

    return app


async def wait_for(cond: Any, step: float = 0.05) -> None:
    while not cond():
        await asyncio.sleep(step)  # virtual time (looptime): no real waiting


def total_committed(broker: MemoryBroker) -> int:
    return sum(committed(broker, "grp", "jobs", p) or 0 for p in range(PARTS))


async def test_two_members_split_the_partitions(make_app: AppFactory, broker: MemoryBroker) -> None:
    """Two workers in one group each get half the partitions and together see everything."""
    fill(broker, "jobs", range(400), partitions=PARTS, key=lambda v: v % 16)
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    a, b = worker(make_app, "a", seen), worker(make_app, "b", seen)
    await a.start()
    await b.start()
    await wait_for(lambda: total_committed(broker) == 400)
    assignment = broker.group_assignment("grp")
    assert sorted(len(tps) for tps in assignment.values()) == [2, 2]
    parts_a = {p for p, _ in seen["a"]}
    parts_b = {p for p, _ in seen["b"]}
    assert not parts_a & parts_b or rebalances(a) + rebalances(b) > 2
    counts = Counter(v for w in seen.values() for _, v in w)
    assert counts.keys() == set(range(400))  # every value at least once, nothing else
    if not parts_a & parts_b:  # no partition changed hands: nothing was processed twice
        assert counts == Counter(range(400))
    await a.stop()
    await b.stop()


async def test_a_leaving_member_hands_its_partitions_over(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """After a graceful stop, the other member owns every partition and nothing is lost."""
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    broker.create_topic("jobs", PARTS)
    a, b = worker(make_app, "a", seen), worker(make_app, "b", seen)
    await a.start()
    await b.start()
    await wait_for(lambda: len(broker.group_assignment("grp")) == 2)
    fill(broker, "jobs", range(200), partitions=PARTS, key=lambda v: v)
    await wait_for(lambda: total_committed(broker) == 200)
    await a.stop()
    fill(broker, "jobs", range(200, 400), partitions=PARTS, key=lambda v: v)
    await wait_for(lambda: total_committed(broker) == 400)
    assert list(broker.group_assignment("grp").values()) == [
        frozenset((t, p) for t, p in [("jobs", 0), ("jobs", 1), ("jobs", 2), ("jobs", 3)])
    ]
    values = sorted(v for w in seen.values() for _, v in w)
    assert set(values) == set(range(400))
    await b.stop()


async def test_a_crashed_member_loses_nothing(make_app: AppFactory, broker: MemoryBroker) -> None:
    """A member killed mid-stream: its unacked and uncommitted events go to the other member.

    The crashed worker committed up to some offset; everything after it is delivered again
    (at-least-once), so every value is processed and the final commit covers all of them.
    """
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    broker.create_topic("jobs", PARTS)
    gate = asyncio.Event()
    a = make_app("grp", topic_partitions=PARTS, commit_every=10, commit_interval=60)

    @a.agent(a.topic("jobs"), name="work")
    async def slow(stream: Stream[int]) -> None:
        async for v in stream:
            seen["a"].append((0, v))
            if len(seen["a"]) == 25:
                await gate.wait()  # stuck mid-stream, holding its current event

    b = worker(make_app, "b", seen)
    await a.start()
    await wait_assigned(a)
    fill(broker, "jobs", range(300), partitions=PARTS, key=lambda v: v)
    await wait_for(lambda: len(seen["a"]) == 25)
    before = total_committed(broker)
    assert before <= 24  # the event it is stuck on, and what follows, are not committed
    await b.start()
    await wait_for(lambda: len(broker.group_assignment("grp")) == 2 or len(seen["b"]) > 0)
    at_crash = {p: committed(broker, "grp", "jobs", p) or 0 for p in range(PARTS)}
    await crash(a)
    await wait_for(lambda: total_committed(broker) == 300)
    redelivered = {
        orjson.loads(m.value)  # type: ignore[arg-type]
        for p in range(PARTS)
        for m in broker.records(TopicPartition("jobs", p))
        if m.offset >= at_crash[p]
    }
    seen_b = {v for _, v in seen["b"]}
    assert seen["a"][-1][1] in redelivered  # the event it was stuck on is among them
    # everything after the crashed member's commits, again (a subset: b also processed
    # the partitions it owned from the start)
    assert redelivered.issubset(seen_b)
    assert seen_b | {v for _, v in seen["a"]} == set(range(300))
    await b.stop()


async def test_rebalance_commits_acked_work_first(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """When a member joins, the old owner commits what it acked before giving partitions up."""
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    fill(broker, "jobs", range(100), partitions=PARTS, key=lambda v: v)
    a = worker(make_app, "a", seen, commit_interval=3600, commit_every=None)
    await a.start()
    await wait_for(lambda: len(seen["a"]) == 100)
    assert total_committed(broker) == 0  # no interval or count commit has happened
    b = worker(make_app, "b", seen)
    await b.start()
    await wait_for(lambda: len(broker.group_assignment("grp")) == 2)
    assert total_committed(broker) == 100  # committed on revoke
    assert seen["b"] == []  # so the new owner had nothing to redo
    await a.stop()
    await b.stop()


async def test_queued_events_of_a_revoked_partition_are_not_processed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Events fetched for a partition that then moved are dropped from the old owner's
    queue: only the new owner processes them.

    (The rebalance is eager, as Kafka's classic protocol: partition 0 is revoked and given
    back to its owner, which reads it again from the committed offset, so the event it was
    stuck on is processed a second time: at-least-once.)"""
    broker.create_topic("jobs", 2)
    gate = asyncio.Event()
    seen_a: list[tuple[int, int]] = []
    seen_b: list[tuple[int, int]] = []
    a = make_app("grp", topic_partitions=2)
    b = make_app("grp", topic_partitions=2)

    @a.agent(a.topic("jobs"), name="w")
    async def first(stream: Stream[int]) -> None:
        async for v in stream:
            seen_a.append((current_event().message.partition, v))  # type: ignore[union-attr]
            await gate.wait()

    @b.agent(b.topic("jobs"), name="w")
    async def second(stream: Stream[int]) -> None:
        async for v in stream:
            seen_b.append((current_event().message.partition, v))  # type: ignore[union-attr]

    await a.start()
    await wait_assigned(a)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    producer.send_soon("jobs", b"0", partition=0)
    await wait_for(lambda: len(seen_a) == 1)  # a is stuck on partition 0's event
    for v in range(1, 11):
        producer.send_soon("jobs", b"%d" % v, partition=1)
    await wait_for(lambda: in_flight(a, "jobs") == 11)  # and has fetched the rest
    await b.start()  # partition 1 moves to b (range assignor: second member)
    await wait_for(lambda: len(seen_b) == 10)
    gate.set()
    await asyncio.sleep(1)
    assert [p for p, _ in seen_a] == [0, 0]
    assert seen_b == [(1, v) for v in range(1, 11)]
    await a.stop()
    await b.stop()
