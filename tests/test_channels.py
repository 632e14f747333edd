"""Channels: in-process streams of Python objects, acked, with backpressure on send."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import Stream
from tests.helpers import AppFactory

pytestmark = pytest.mark.looptime


async def test_channel_delivers_objects_as_they_are(make_app: AppFactory) -> None:
    """Values sent to a channel arrive unchanged (not serialized), with key and headers."""
    app = make_app("ch")
    channel = app.channel()
    got: list[tuple[object, object, dict[str, object]]] = []

    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    @app.agent(channel)
    async def read(stream: Stream[Point]) -> None:
        async for event in stream.events():
            got.append((event.key, event.value, event.headers))

    p = Point(3)
    async with app:
        await channel.send(key="k", value=p, headers={"h": "v"})
        while not got:
            await asyncio.sleep(0.01)
    assert got == [("k", p, {"h": "v"})]


async def test_agents_chain_through_a_channel(make_app: AppFactory) -> None:
    """One agent forwards to a channel another agent reads; a bounded run sees both."""
    app = make_app("chain")
    numbers = app.topic("numbers")
    doubled = app.channel()
    out: list[int] = []

    @app.agent(numbers)
    async def double(stream: Stream[int]) -> None:
        async for n in stream:
            await doubled.send(value=n * 2)

    @app.agent(doubled)
    async def collect(stream: Stream[int]) -> None:
        async for n in stream:
            out.append(n)

    for n in range(5):
        await numbers.send(value=n)
    await app.run(until_idle=True, timeout=30)
    assert out == [0, 2, 4, 6, 8]


async def test_send_waits_while_the_channel_is_full(make_app: AppFactory) -> None:
    """With maxsize 4 and a stuck agent, send() blocks instead of growing the buffer."""
    app = make_app("full")
    channel = app.channel(maxsize=4)
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(channel)
    async def stuck(stream: Stream[int]) -> None:
        async for n in stream:
            await gate.wait()
            got.append(n)

    async with app:
        sent = 0

        async def sender() -> None:
            nonlocal sent
            for n in range(10):
                await channel.send(value=n)
                sent += 1

        task = asyncio.create_task(sender())
        await asyncio.sleep(1)
        assert sent == 4  # the fifth send waits for room
        gate.set()
        await task
        while len(got) < 10:
            await asyncio.sleep(0.01)
    assert got == list(range(10))


async def test_events_sent_before_the_agent_subscribes_are_kept(make_app: AppFactory) -> None:
    """A channel holds what is sent before any stream reads it."""
    app = make_app("early")
    channel = app.channel()
    got: list[int] = []

    @app.agent(channel)
    async def read(stream: Stream[int]) -> None:
        async for n in stream:
            got.append(n)

    await channel.send(value=1)
    await channel.send(value=2)
    await app.run(until_idle=True, timeout=30)
    assert got == [1, 2]
