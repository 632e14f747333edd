"""Acks from the user's side: reject() and its bound, acks after a revoke."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import AgentError, Event, RejectedTooOftenError, Stream, TopicPartition
from rxstreams.testing import assigned, wait_assigned
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_reject_delivers_the_event_again(make_app: AppFactory, broker: MemoryBroker) -> None:
    """A rejected event comes back to the same stream; the offset waits for it."""
    fill(broker, "t", range(5))
    app = make_app("rej")
    seen: list[int] = []
    rejected = 0

    @app.agent(app.topic("t"))
    async def flaky(stream: Stream[int]) -> None:
        nonlocal rejected
        async for event in stream.events():
            seen.append(event.value)
            if event.value == 2 and rejected < 2:
                rejected += 1
                event.reject()

    await app.run(until_idle=True, timeout=30)
    assert sorted(seen) == [0, 1, 2, 2, 2, 3, 4]
    assert committed(broker, "rej", "t") == 5


async def test_rejecting_past_the_limit_stops_without_committing_it(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """After redelivery_limit rejections the event fails: the app stops, offset kept."""
    fill(broker, "t", range(5))
    app = make_app("rej-limit", redelivery_limit=2)
    attempts = 0

    @app.agent(app.topic("t"))
    async def never(stream: Stream[int]) -> None:
        nonlocal attempts
        async for event in stream.events():
            if event.value == 1:
                attempts += 1
                event.reject()

    with pytest.raises(AgentError) as info:
        await app.run(timeout=30)
    assert isinstance(info.value.__cause__, RejectedTooOftenError)
    assert "t[0]@1" in str(info.value.__cause__)
    assert attempts == 3  # the first delivery and two redeliveries
    assert committed(broker, "rej-limit", "t") == 1


async def test_ack_after_the_partition_was_revoked_is_a_no_op(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """An event held across a rebalance that moved its partition: ack() returns False and
    the partition's new owner processes it."""
    broker.create_topic("t", 2)
    held: list[Event[int, int]] = []
    gate = asyncio.Event()
    a = make_app("grp", topic_partitions=2)
    b = make_app("grp", topic_partitions=2)
    seen_b: list[int] = []

    @a.agent(a.topic("t"), name="w")
    async def holder(stream: Stream[int]) -> None:
        async for event in stream.events():
            held.append(event)
            await gate.wait()

    @b.agent(b.topic("t"), name="w")
    async def other(stream: Stream[int]) -> None:
        async for v in stream:
            seen_b.append(v)

    await a.start()
    await wait_assigned(a)
    # partition 1: the range assignor gives it to the second member once b joins
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    producer.send_soon("t", b"7", partition=1)
    while not held:
        await asyncio.sleep(0.01)
    await b.start()
    while TopicPartition("t", 1) not in assigned(b):
        await asyncio.sleep(0.01)
    assert TopicPartition("t", 1) not in assigned(a)
    assert held[0].ack() is False
    while seen_b != [7]:
        await asyncio.sleep(0.01)
    gate.set()
    await a.stop()
    await b.stop()


async def test_a_channel_event_is_redelivered_redelivery_limit_times(
    make_app: AppFactory,
) -> None:
    """reject() on a channel's event: delivered again until the limit, then the app fails."""
    app = make_app("rej-channel", redelivery_limit=2)
    channel = app.channel()
    attempts = 0

    @app.agent(channel)
    async def never(stream: Stream[int]) -> None:
        nonlocal attempts
        async for event in stream.events():
            attempts += 1
            event.reject()

    await app.start()
    await channel.send(value=1)
    with pytest.raises(AgentError) as info:
        await asyncio.wait_for(app.wait(), timeout=30)
    assert isinstance(info.value.__cause__, RejectedTooOftenError)
    assert attempts == 3  # the first delivery and two redeliveries
