"""Manual acks (Faust's ``stream.noack()``), the same on every broker: the group's committed
offset stays below an event nobody acked, advances once it is acked, and a later member of
the group gets the unacked event again."""

from __future__ import annotations

import asyncio
from typing import Any

from rxstreams import Event, Stream
from tests.contract.conftest import FAST, Cluster


async def test_noack_commits_stop_below_an_unacked_event_until_it_is_acked(
    cluster: Cluster,
) -> None:
    """noack().events(): every event but offset 2 is acked at once; the commit stops at 2
    while it is held (even after the loop moved far past it), and reaches the end once
    ``stream.ack(event)`` acks it."""
    topic, group = cluster.name("manual"), cluster.name("app")
    await cluster.create_topic(topic, 1)
    sent = await cluster.produce(topic, [(None, i) for i in range(6)])
    app = cluster.app(group)
    held: list[Event[Any, int]] = []
    seen: list[int] = []

    @app.agent(app.topic(topic))
    async def work(stream: Stream[int]) -> None:
        quiet = stream.noack()
        async for event in quiet.events():
            seen.append(event.value)
            if event.value == 2:
                held.append(event)
            else:
                assert quiet.ack(event)

    async with app:
        await cluster.eventually(lambda: len(seen) == 6, what="the agent saw every event")
        await cluster.wait_committed(group, topic, {0: 2})
        await asyncio.sleep(3 * FAST["commit_interval"])  # more commit intervals: still 2
        assert await cluster.committed(group, topic, 1) == {0: 2}
        assert held[0].ack()
        await cluster.wait_committed(group, topic, cluster.ends(sent, 1))


async def test_an_event_never_acked_goes_to_the_next_member(cluster: Cluster) -> None:
    """A noack agent that never acks offset 1 stops gracefully: the group's offset is
    committed up to 1, and the next member of the group processes 1, 2 and 3 again (the
    acked 2 and 3 come again too: at-least-once, never a loss)."""
    topic, group = cluster.name("manual"), cluster.name("app")
    await cluster.create_topic(topic, 1)
    sent = await cluster.produce(topic, [(None, i) for i in range(4)])
    first_seen: list[int] = []

    first = cluster.app(group)

    @first.agent(first.topic(topic), name="work")
    async def skips(stream: Stream[int]) -> None:
        async for event in stream.noack().events():
            first_seen.append(event.value)
            if event.value != 1:
                event.ack()

    async with first:
        await cluster.eventually(lambda: len(first_seen) == 4, what="the first member")
        await cluster.wait_committed(group, topic, {0: 1})
    assert await cluster.committed(group, topic, 1) == {0: 1}

    second = cluster.app(group)
    second_seen: list[int] = []

    @second.agent(second.topic(topic), name="work")
    async def all_of_it(stream: Stream[int]) -> None:
        async for value in stream:
            second_seen.append(value)

    async with second:
        await cluster.eventually(lambda: len(second_seen) == 3, what="the second member")
        await cluster.wait_committed(group, topic, cluster.ends(sent, 1))
    assert second_seen == [1, 2, 3]
