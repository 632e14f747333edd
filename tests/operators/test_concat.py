"""concat: one stream's items, then the next stream's once it ended."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import ArgumentTypeError, ConfigurationError, Stream
from rxstreams.testing import in_flight
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_the_next_stream_follows_and_its_events_are_held_until_then(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """b's events, fetched while a is still running, are held (in flight, not committed,
    not lost) and delivered in order once a ends; then both topics are committed."""
    fill(broker, "a", range(2))
    fill(broker, "b", range(100, 105))
    app = make_app("concat", commit_every=1)
    a = app.topic("a")
    b = app.topic("b").stream()
    got: list[int] = []

    @app.agent(a)
    async def read(stream: Stream[int]) -> None:
        async for v in stream.take(3).concat(b):
            got.append(v)

    async with app:
        await asyncio.sleep(1)
        assert got == [0, 1]
        assert committed(broker, "concat", "b") is None
        assert in_flight(app, "b") == 5
        await a.send(value=2)
        while committed(broker, "concat", "b") != 5:
            await asyncio.sleep(0.01)
        assert committed(broker, "concat", "a") == 3
    assert got == [0, 1, 2, 100, 101, 102, 103, 104]


async def test_events_another_stream_read_before_the_turn_are_not_seen(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """When another agent reads b, b's events delivered before the concat's turn went to
    that agent only; the concat sees what arrives after its turn came."""
    fill(broker, "b", range(100, 103))
    app = make_app("concat-shared")
    a, b = app.topic("a"), app.topic("b")
    b_stream = b.stream()
    got: list[int] = []
    other: list[int] = []

    @app.agent(app.channel(), name="concat")
    async def read(_: Stream[int]) -> None:
        async for v in a.stream().take(1).concat(b_stream):
            got.append(v)

    @app.agent(b, name="other")
    async def read_b(stream: Stream[int]) -> None:
        async for v in stream:
            other.append(v)

    async with app:
        while len(other) < 3:
            await asyncio.sleep(0.01)
        await a.send(value=1)
        while got != [1]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await b.send(value=200)
        while len(got) < 2:
            await asyncio.sleep(0.01)
        while committed(broker, "concat-shared", "b") != 4:
            await asyncio.sleep(0.01)
    assert got == [1, 200]
    assert other == [100, 101, 102, 200]


def test_concat_checks_its_arguments(make_app: AppFactory) -> None:
    """No other stream, a non-stream, or one of another app, is refused at once."""
    app, other = make_app("one"), make_app("two")
    stream = app.topic("a").stream()
    with pytest.raises(ConfigurationError, match="at least one"):
        stream.concat()
    with pytest.raises(ArgumentTypeError, match="takes Streams"):
        stream.concat(app.topic("b"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="belongs to app"):
        stream.concat(other.topic("b").stream())
