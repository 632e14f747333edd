"""The commit policy: on an interval, every N acks, on stop; outputs flushed first."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest

from rxstreams import App, Stream, TopicPartition
from rxstreams.messages import RecordMetadata
from rxstreams.types import ConsumerConfig, ConsumerT, ProducerConfig, RebalanceListenerT
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


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

    loop = asyncio.get_running_loop()
    async with app:
        t0 = loop.time()
        while n < 10:
            await asyncio.sleep(0.01)
        assert committed(broker, "tick", "t") is None
        while committed(broker, "tick", "t") is None:
            await asyncio.sleep(0.1)
        assert loop.time() - t0 == pytest.approx(5.0, abs=0.5)
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
