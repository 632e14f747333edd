"""Operators composed (join, through, tee, group_by), then a crash: the committed offset
never passes an input whose derived work is unfinished, and a restart processes it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from rxstreams import Stream
from rxstreams.testing import crash
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed

pytestmark = pytest.mark.looptime

#: every setting that makes commits happen while the pipeline is stuck
FAST_COMMITS: dict[str, Any] = {"commit_interval": 0.1, "commit_every": 1}


def produce_pairs(broker: MemoryBroker, n: int) -> None:
    """``n`` keyed events on "left" and the matching ``n`` on "right" (same keys, same time)."""
    broker.create_topic("left", 1)
    broker.create_topic("right", 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    for i in range(n):
        key = orjson.dumps(f"k{i}")
        producer.send_soon("left", orjson.dumps(i), key=key, timestamp_ms=1_000_000 + i)
        producer.send_soon("right", orjson.dumps(-i), key=key, timestamp_ms=1_000_000 + i)


async def stuck_until(flag: asyncio.Event, seconds: float = 10.0) -> None:
    """Let the commit loop run many times (virtual time) once ``flag`` is set."""
    await flag.wait()
    await asyncio.sleep(seconds)


async def test_a_joined_tuple_through_a_channel_holds_both_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """join(...).through(channel) with a slow reader: once the join windows let the inputs
    go (1 s), the tuple alone holds them: neither is committed while it is unprocessed;
    after a crash, a restart processes the tuple and commits both."""
    produce_pairs(broker, 1)
    app = make_app("jt", **FAST_COMMITS)
    channel = app.channel()
    reached = asyncio.Event()

    @app.agent(app.topic("left"))
    async def joiner(stream: Stream[int]) -> None:
        right = app.topic("right").stream()
        async for pair in stream.join(right, within=1).through(channel):
            reached.set()
            await asyncio.sleep(3600)  # the slow reader of the channel
            del pair

    await app.start()
    await stuck_until(reached)
    assert committed(broker, "jt", "left") in (None, 0)
    assert committed(broker, "jt", "right") in (None, 0)
    await crash(app)

    done: list[Any] = []
    again = make_app("jt")

    @again.agent(again.topic("left"))
    async def joiner2(stream: Stream[int]) -> None:
        right = again.topic("right").stream()
        async for pair in stream.join(right, within=1).through(again.channel()):
            done.append(pair)

    await again.run(until_idle=True, timeout=30)
    assert done == [(0, 0)]
    assert committed(broker, "jt", "left") == 1
    assert committed(broker, "jt", "right") == 1


async def test_a_joined_tuple_teed_to_a_slow_channel_holds_both_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """join(...).tee(channel): the main branch is done at once, the channel's reader is
    stuck; neither input is committed until the branch processed the tuple."""
    produce_pairs(broker, 1)
    app = make_app("jtee", **FAST_COMMITS)
    branch = app.channel()
    reached = asyncio.Event()

    @app.agent(app.topic("left"))
    async def joiner(stream: Stream[int]) -> None:
        right = app.topic("right").stream()
        async for _ in stream.join(right, within=1).tee(branch):
            pass  # the main branch is done with each tuple at once

    @app.agent(branch)
    async def slow(stream: Stream[Any]) -> None:
        async for _ in stream:
            reached.set()
            await asyncio.sleep(3600)

    await app.start()
    await stuck_until(reached)
    assert committed(broker, "jtee", "left") in (None, 0)
    assert committed(broker, "jtee", "right") in (None, 0)
    await crash(app)


async def test_a_joined_tuple_grouped_by_key_holds_both_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """join(...) then group_by with a stuck group: the inputs of the tuples that group
    holds are not committed; the other group's are."""
    produce_pairs(broker, 2)
    app = make_app("jgroup", **FAST_COMMITS)
    reached = asyncio.Event()
    finished: list[Any] = []

    async def per_key(key: Any, sub: Stream[Any]) -> None:
        async for pair in sub:
            if key == "k0":
                reached.set()
                await asyncio.sleep(3600)
            finished.append(pair)

    @app.agent(app.topic("left"))
    async def joiner(stream: Stream[int]) -> None:
        right = app.topic("right").stream()
        await stream.join(right, within=1).group_by(lambda pair: f"k{pair[0]}").each(per_key)

    await app.start()
    await stuck_until(reached)
    assert finished == [(1, -1)]
    # offset 0 of each input (key k0) is unfinished: nothing may be committed past it
    assert committed(broker, "jgroup", "left") in (None, 0)
    assert committed(broker, "jgroup", "right") in (None, 0)
    await crash(app)


async def test_tee_through_and_group_by_fan_out_never_commit_unfinished_work(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A source teed to a channel whose stream goes through a second channel and is
    grouped: whichever branch is stuck on event 3, offset 3 is not committed; the rest
    before it is."""
    broker.create_topic("src", 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    for i in range(6):
        producer.send_soon("src", orjson.dumps(i))
    app = make_app("fan", **FAST_COMMITS)
    teed, hop = app.channel(), app.channel()
    reached = asyncio.Event()

    @app.agent(app.topic("src"))
    async def main(stream: Stream[int]) -> None:
        async for _ in stream.tee(teed):
            pass

    async def per_parity(key: Any, sub: Stream[int]) -> None:
        async for v in sub:
            if v == 3:
                reached.set()
                await asyncio.sleep(3600)

    @app.agent(teed)
    async def grouped(stream: Stream[int]) -> None:
        await stream.through(hop).group_by(lambda v: v % 2).each(per_parity)

    await app.start()
    await stuck_until(reached)
    assert committed(broker, "fan", "src") == 3
    await crash(app)


async def test_a_joined_tuple_through_a_channel_with_two_readers_holds_both_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A channel with two readers gets the tuple split in two: the fast reader being done
    does not release the inputs while the slow one is still processing it."""
    produce_pairs(broker, 1)
    app = make_app("jt2", **FAST_COMMITS)
    channel = app.channel()
    reached = asyncio.Event()

    @app.agent(app.topic("left"))
    async def joiner(stream: Stream[int]) -> None:
        right = app.topic("right").stream()
        async for _ in stream.join(right, within=1).echo(channel):
            pass

    @app.agent(channel, name="fast")
    async def fast(stream: Stream[Any]) -> None:
        async for _ in stream:
            pass

    @app.agent(channel, name="slow")
    async def slow(stream: Stream[Any]) -> None:
        async for _ in stream:
            reached.set()
            await asyncio.sleep(3600)

    await app.start()
    await stuck_until(reached)
    assert committed(broker, "jt2", "left") in (None, 0)
    assert committed(broker, "jt2", "right") in (None, 0)
    await crash(app)
