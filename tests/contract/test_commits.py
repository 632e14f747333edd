"""Acks and commits, the same on every broker: what is committed is exactly the acked
prefix of each partition, a graceful stop commits, and the next member starts there."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from rxstreams import App, Stream
from tests.contract.conftest import Cluster


async def test_commits_follow_acks_and_never_pass_a_held_event(cluster: Cluster) -> None:
    """filter -> map: dropped values are acked too; while the agent is busy with one
    event, its partition is committed up to that event's offset and no further; once the
    agent moves on, every partition is committed to its end and each kept value was
    processed once."""
    topic, group = cluster.name("numbers"), cluster.name("app")
    await cluster.create_topic(topic, 2)
    sent = await cluster.produce(
        topic, [(i % 10, i) for i in range(100)], partition=lambda k, v: v % 2
    )
    ends = cluster.ends(sent, 2)
    held = next(md for md in sent if md.partition == 1 and md.offset == 26)
    app = cluster.app(group, topic_partitions=2)
    gate = asyncio.Event()
    seen: list[int] = []

    @app.agent(app.topic(topic))
    async def work(stream: Stream[int]) -> None:
        async for value in stream.filter(lambda n: n % 3 != 0).map(lambda n: n * 10):
            seen.append(value)
            if value == 530:  # 53, the 27th odd number: partition 1, offset 26
                await gate.wait()

    async with app:
        await cluster.eventually(lambda: 530 in seen, what="the agent holds 53")
        await cluster.wait_committed(group, topic, {1: held.offset})
        assert (await cluster.committed(group, topic, 2))[1] == held.offset
        gate.set()
        await cluster.wait_committed(group, topic, ends)
    assert sorted(seen) == [n * 10 for n in range(100) if n % 3 != 0]


async def test_a_graceful_stop_commits_and_the_next_member_starts_there(cluster: Cluster) -> None:
    """The first app commits what it processed when it stops (the commit interval is too
    long to have committed before); a second app of the group processes only what came
    after."""
    topic, group = cluster.name("events"), cluster.name("app")
    await cluster.create_topic(topic, 2)
    first_batch = await cluster.produce(topic, [(f"k{i % 7}", i) for i in range(40)])
    seen: dict[str, list[int]] = defaultdict(list)

    def member(name: str) -> App:
        app = cluster.app(group, topic_partitions=2, commit_interval=3600, commit_every=None)

        @app.agent(app.topic(topic), name="work")
        async def work(stream: Stream[int]) -> None:
            async for value in stream:
                seen[name].append(value)

        return app

    first = member("first")
    async with first:
        await cluster.eventually(lambda: len(seen["first"]) == 40, what="the first batch")
        assert await cluster.committed(group, topic, 2) == {0: 0, 1: 0}  # not yet
    assert await cluster.committed(group, topic, 2) == cluster.ends(first_batch, 2)

    second_batch = await cluster.produce(topic, [(f"k{i % 7}", i) for i in range(40, 60)])
    async with member("second"):
        await cluster.eventually(lambda: len(seen["second"]) >= 20, what="the second batch")
    assert sorted(seen["first"]) == list(range(40))
    assert sorted(seen["second"]) == list(range(40, 60))
    assert await cluster.committed(group, topic, 2) == cluster.ends(second_batch, 2)
