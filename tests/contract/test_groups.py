"""Consumer groups, the same on every broker: a second member takes half the partitions
after the first committed its acked work, and a crashed member's uncommitted events are
delivered again to the member that takes its partitions over."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson

from rxstreams import App, Stream, current_event
from tests.contract.conftest import Cluster, assigned

PARTS = 4


def member(
    cluster: Cluster,
    group: str,
    topic: str,
    seen: list[tuple[int, int]],
    **settings: Any,
) -> App:
    """An app of ``group`` whose agent records ``(partition, value)`` for every event."""
    app = cluster.app(group, topic_partitions=PARTS, **settings)

    @app.agent(app.topic(topic), name="work")
    async def work(stream: Stream[int]) -> None:
        async for value in stream:
            message = current_event().message
            assert message is not None
            seen.append((message.partition, value))

    return app


async def test_a_second_member_takes_half_the_partitions_after_the_first_committed(
    cluster: Cluster,
) -> None:
    """The first member processed everything but committed nothing (no interval or count
    commit in this test); when the second joins, the first commits its acked work before
    giving partitions up, so no event is processed twice; the members then own two
    partitions each, and each processes only its own."""
    topic, group = cluster.name("jobs"), cluster.name("grp")
    await cluster.create_topic(topic, PARTS)
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    slow = {"commit_interval": 3600, "commit_every": None}
    a = member(cluster, group, topic, seen["a"], **slow)
    b = member(cluster, group, topic, seen["b"], **slow)
    first = await cluster.produce(topic, [(i % 16, i) for i in range(100)])
    await a.start()
    await cluster.eventually(lambda: len(seen["a"]) == 100, what="a processed the first 100")
    assert await cluster.committed(group, topic, PARTS) == dict.fromkeys(range(PARTS), 0)

    await b.start()
    await cluster.eventually(
        lambda: len(assigned(a, topic)) == 2 and len(assigned(b, topic)) == 2,
        what="two partitions each",
    )
    assert assigned(a, topic).isdisjoint(assigned(b, topic))
    # committed when the first member's partitions were revoked
    await cluster.wait_committed(group, topic, cluster.ends(first, PARTS))

    second = await cluster.produce(topic, [(i % 16, i) for i in range(100, 200)])
    await cluster.eventually(
        lambda: len(seen["a"]) + len(seen["b"]) == 200, what="the second 100 processed"
    )
    owned = {"a": assigned(a, topic), "b": assigned(b, topic)}
    await a.stop()
    await b.stop()
    everything = [v for w in seen.values() for _, v in w]
    assert sorted(everything) == list(range(200))  # each exactly once
    assert {p for p, _ in seen["b"]} == owned["b"]
    assert {p for p, v in seen["a"] if v >= 100} == owned["a"]
    await cluster.wait_committed(group, topic, cluster.ends(second, PARTS))


async def test_a_crashed_member_s_uncommitted_events_are_delivered_again(
    cluster: Cluster,
) -> None:
    """A member dies (no commit, no leaving the group) while holding its 25th event,
    having committed every 10 acks. Its partitions go to the next member (on Kafka once
    its session timed out), which processes everything after the committed offsets again,
    the held event included: nothing is lost, and the group commits to the end."""
    topic, group = cluster.name("jobs"), cluster.name("grp")
    await cluster.create_topic(topic, PARTS)
    sent = await cluster.produce(topic, [(i, i) for i in range(300)])
    seen_a: list[tuple[int, int]] = []
    seen_b: list[tuple[int, int]] = []
    stuck = asyncio.Event()
    a = cluster.app(group, topic_partitions=PARTS, commit_every=10, commit_interval=3600)

    @a.agent(a.topic(topic), name="work")
    async def work(stream: Stream[int]) -> None:
        async for value in stream:
            message = current_event().message
            assert message is not None
            seen_a.append((message.partition, value))
            if len(seen_a) == 25:
                await stuck.wait()  # never set: it dies holding this event

    await a.start()
    await cluster.eventually(lambda: len(seen_a) == 25, what="a holds its 25th event")
    await cluster.crash(a)
    at_crash = await cluster.committed(group, topic, PARTS)
    assert sum(at_crash.values()) <= 24  # the held event and what follows: not committed

    b = member(cluster, group, topic, seen_b)
    async with b:
        await cluster.wait_committed(group, topic, cluster.ends(sent, PARTS), within=30)
    records = await cluster.records(topic, PARTS)
    after_commit = {
        orjson.loads(m.value)  # type: ignore[arg-type]
        for m in records
        if m.offset >= at_crash[m.partition]
    }
    values_b = {v for _, v in seen_b}
    # b started after the crash: it reads from those commits on, so it processes exactly
    # what comes after them (some values more than once, if its own rebalance moved them)
    assert values_b == after_commit
    assert seen_a[-1][1] in values_b  # the event it died holding, among them
    assert values_b | {v for _, v in seen_a} == set(range(300))
