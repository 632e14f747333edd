"""The commit policy: on an interval, every N acks, on stop; outputs flushed first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from structlog.testing import capture_logs

from rxstreams import App, Stream, TopicPartition
from rxstreams.messages import RecordMetadata
from rxstreams.runtime.commit import Committer
from rxstreams.runtime.lifecycle import Lifecycle, Participant
from rxstreams.runtime.offsets import PartitionOffsets
from rxstreams.types import ConsumerConfig, ConsumerT, ProducerConfig, RebalanceListenerT
from rxstreams_memory import MemoryBroker, MemoryConsumer, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime

TP = TopicPartition("t", 0)


class Flow:
    """A subscription's flow gate that never pauses (stands in for the source's)."""

    in_flight = 0
    paused = False
    resume_below = 0

    def resume(self) -> None:
        pass


class Listener:
    """A rebalance listener with nothing to do."""

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        pass


class Journal(Participant):
    """Records the offsets each on_commit saw, and what the broker held at that moment."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.calls: list[tuple[dict[TopicPartition, int], int | None]] = []

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.calls.append((dict(offsets), self.broker.committed("g", TP)))


@dataclass
class Setup:
    """A committer for one partition of topic t, as a worker wires it."""

    committer: Committer
    offsets: PartitionOffsets
    consumer: MemoryConsumer
    journal: Journal


async def make_committer(broker: MemoryBroker, *, every: int | None = None) -> Setup:
    """A committer on a started consumer of group g (not yet assigned t[0]), ack sink of
    one PartitionOffsets of t[0]."""
    broker.create_topic("t", 1)
    consumer = MemoryTransport(broker=broker).create_consumer(
        ["t"], Listener(), ConsumerConfig(group_id="g", client_id="c")
    )
    await consumer.start()
    lifecycle = Lifecycle()
    journal = Journal(broker)
    lifecycle.add(journal)
    partitions: dict[TopicPartition, PartitionOffsets] = {}
    committer = Committer(partitions, lifecycle, interval=3600, every=every)
    partitions[TP] = PartitionOffsets(TP, Flow(), committer)
    committer.consumer = consumer
    return Setup(committer, partitions[TP], consumer, journal)


@pytest.fixture
async def setup(broker: MemoryBroker) -> AsyncIterator[Setup]:
    """A committer whose consumer owns t[0]."""
    s = await make_committer(broker)
    await s.consumer.getmany(timeout=0)  # joins the group: t[0] is assigned
    yield s
    await s.consumer.stop()


async def test_a_commit_sends_what_is_committable_and_only_once(
    setup: Setup, broker: MemoryBroker
) -> None:
    """commit() commits 1 + the acked prefix; with no new ack the next commit sends nothing."""
    po, committer = setup.offsets, setup.committer
    po.delivered([0, 1, 2])
    po.ack(0)
    po.ack(1)
    assert await committer.commit() == {TP: 2}
    assert broker.committed("g", TP) == 2
    assert await committer.commit() == {}
    assert setup.journal.calls == [({TP: 2}, None)]
    assert committer.commits == 1
    po.ack(2)
    assert await committer.commit() == {TP: 3}
    assert broker.committed("g", TP) == 3
    assert committer.commits == 2


async def test_participants_hear_of_a_commit_before_the_broker_has_it(setup: Setup) -> None:
    """on_commit (the producer's flush) sees the offsets while the broker still has the old."""
    setup.offsets.delivered([0, 1])
    setup.offsets.ack(0)
    await setup.committer.commit()
    setup.offsets.ack(1)
    await setup.committer.commit()
    assert setup.journal.calls == [({TP: 1}, None), ({TP: 2}, 1)]


async def test_commits_are_logged_at_debug(setup: Setup) -> None:
    """Each commit logs offsets_committed with the offsets by partition name."""
    setup.offsets.delivered([0])
    setup.offsets.ack(0)
    with capture_logs() as logs:
        await setup.committer.commit()
    ours = [e for e in logs if "group_id" not in e]  # the broker logs its side with the group
    assert ours == [{"event": "offsets_committed", "log_level": "debug", "offsets": {"t[0]": 1}}]


async def test_a_committer_without_a_consumer_commits_nothing(broker: MemoryBroker) -> None:
    """Before the worker gave it its consumer, commit() returns {} and tells nobody."""
    lifecycle = Lifecycle()
    journal = Journal(broker)
    lifecycle.add(journal)
    partitions: dict[TopicPartition, PartitionOffsets] = {}
    committer = Committer(partitions, lifecycle, interval=3600, every=None)
    partitions[TP] = po = PartitionOffsets(TP, Flow(), committer)
    po.delivered([0])
    po.ack(0)
    assert await committer.commit() == {}
    assert journal.calls == []
    assert committer.commits == 0


async def test_a_fenced_commit_is_logged_and_committed_later(broker: MemoryBroker) -> None:
    """A refused commit logs commit_fenced, raises nothing, and goes out with the next one."""
    s = await make_committer(broker)  # not assigned yet: the group refuses its commits
    s.offsets.delivered([0, 1])
    s.offsets.ack(0)
    with capture_logs() as logs:
        assert await s.committer.commit() == {}
    ours = [e for e in logs if "group_id" not in e]  # the broker logs its side with the group
    assert [(e["event"], e["log_level"], e["offsets"]) for e in ours] == [
        ("commit_fenced", "warning", {"t[0]": 1})
    ]
    assert "has not joined the group's current generation" in ours[0]["error"]
    assert broker.committed("g", TP) is None
    assert s.committer.commits == 0
    await s.consumer.getmany(timeout=0)
    assert await s.committer.commit() == {TP: 1}
    assert broker.committed("g", TP) == 1
    await s.consumer.stop()


async def test_acks_are_counted_across_due_commits(broker: MemoryBroker) -> None:
    """total_acks counts every ack, commit_every at a time and the ones since."""
    s = await make_committer(broker, every=2)
    s.offsets.delivered(list(range(5)))
    for o in range(5):
        s.offsets.ack(o)
        assert s.committer.total_acks == o + 1
    assert s.committer.acks == 1  # two commits were due, one ack piled up since
    await s.consumer.stop()


async def test_commits_happen_on_the_interval(make_app: AppFactory, broker: MemoryBroker) -> None:
    """With commit_every off, acked offsets reach the broker at the next interval tick."""
    fill(broker, "t", range(10))
    app = make_app("tick", commit_interval=5.0, commit_every=None)
    n = 0

    @app.agent(app.topic("t"))
    async def count(stream: Stream[int]) -> None:
        nonlocal n
        async for _ in stream:
            n += 1

    async with app:
        while n < 10:
            await asyncio.sleep(0.01)
        await asyncio.sleep(4.5)
        assert committed(broker, "tick", "t") is None
        await asyncio.sleep(1)
        assert committed(broker, "tick", "t") == 10


async def test_commits_happen_every_n_acks(make_app: AppFactory, broker: MemoryBroker) -> None:
    """commit_every=10 commits once ten events are acked, long before the interval.

    The commit covers everything acked by the time it runs: offsets 0-13 (the agent is
    stuck on 14)."""
    fill(broker, "t", range(25))
    app = make_app("every", commit_interval=3600, commit_every=10, max_poll_records=5)
    seen: list[int] = []
    gate = asyncio.Event()

    @app.agent(app.topic("t"))
    async def work(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)
            if v == 14:
                await gate.wait()

    async with app:
        while len(seen) < 15:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "every", "t") == 14
        gate.set()
        while committed(broker, "every", "t") != 25:
            await asyncio.sleep(0.01)


class LingeringTransport(MemoryTransport):
    """A transport whose producer holds records until flush(), like a real batching
    producer with a long linger, and which journals flushes and commits."""

    def __init__(self, broker: MemoryBroker, journal: list[str]) -> None:
        super().__init__(broker=broker)
        self.journal = journal

    def create_producer(self, config: ProducerConfig) -> Any:
        return LingeringProducer(super().create_producer(config), self.journal)

    def create_consumer(
        self, topics: Collection[str], listener: RebalanceListenerT, config: ConsumerConfig
    ) -> Any:
        return JournalingConsumer(super().create_consumer(topics, listener, config), self.journal)


class LingeringProducer:
    def __init__(self, inner: Any, journal: list[str]) -> None:
        self.inner = inner
        self.journal = journal
        self.held: list[tuple[str, bytes | None, dict[str, Any]]] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.flush()
        await self.inner.stop()

    async def send(
        self, topic: str, value: bytes | None, **kw: Any
    ) -> asyncio.Future[RecordMetadata]:
        self.held.append((topic, value, kw))
        fut: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        return fut

    async def flush(self) -> None:
        held, self.held = self.held, []
        for topic, value, kw in held:
            await self.inner.send(topic, value, **kw)
        self.journal.append(f"flush:{len(held)}")


class JournalingConsumer:
    def __init__(self, inner: ConsumerT, journal: list[str]) -> None:
        self.inner = inner
        self.journal = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.journal.append(f"commit:{sorted(offsets.values())}")
        await self.inner.commit(offsets)


async def test_outputs_are_flushed_before_the_offsets_that_led_to_them(
    broker: MemoryBroker,
) -> None:
    """Every commit comes after a flush of what the agent sent for those events: at each
    commit, the output topic already holds one record per committed input."""
    fill(broker, "in", range(30))
    journal: list[str] = []
    app = App(
        "flush",
        transport=LingeringTransport(broker, journal),
        topic_partitions=1,
        commit_every=10,
        max_poll_records=10,
    )
    out = app.topic("out")
    checks: list[tuple[int, int]] = []

    @app.agent(app.topic("in"))
    async def double(stream: Stream[int]) -> None:
        async for v in stream:
            await out.send(value=v * 2)

    original = JournalingConsumer.commit

    async def checking_commit(self: JournalingConsumer, offsets: dict[TopicPartition, int]) -> None:
        checks.append(
            (offsets[TopicPartition("in", 0)], broker.end_offset(TopicPartition("out", 0)))
        )
        await original(self, offsets)

    JournalingConsumer.commit = checking_commit  # type: ignore[method-assign]
    try:
        await app.run(until_idle=True, timeout=30)
    finally:
        JournalingConsumer.commit = original  # type: ignore[method-assign]
    assert checks
    assert all(outputs >= inputs for inputs, outputs in checks), checks
    assert broker.end_offset(TopicPartition("out", 0)) == 30
    assert journal.index(next(j for j in journal if j.startswith("commit"))) > 0
    assert journal[0].startswith("flush")
