"""combine: merge streams, items as they arrive from any of them."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import ArgumentTypeError, ConfigurationError, Stream
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_combine_delivers_both_topics_and_commits_both(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The combined stream gets every value of both topics, each topic in its order, and
    both topics are committed to the end."""
    fill(broker, "a", range(5))
    fill(broker, "b", range(100, 104))
    app = make_app("comb")
    b = app.topic("b").stream()
    got: list[int] = []

    @app.agent(app.topic("a"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.combine(b):
            got.append(v)

    await app.run(until_idle=True, timeout=30)
    assert [v for v in got if v < 100] == list(range(5))
    assert [v for v in got if v >= 100] == list(range(100, 104))
    assert committed(broker, "comb", "a") == 5
    assert committed(broker, "comb", "b") == 4


async def test_a_stuck_event_of_one_input_holds_only_its_topic(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Acks are unchanged: the agent stuck on a value of b holds b's commit at that
    offset; a's values processed before it are committed."""
    fill(broker, "a", range(3))
    app = make_app("comb-acks", commit_every=1)
    a, b = app.topic("a"), app.topic("b")
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(app.channel())
    async def read(_: Stream[int]) -> None:
        async for v in a.stream().combine(b.stream()):
            if v == 101:
                await gate.wait()
            got.append(v)

    async with app:
        while len(got) < 3:
            await asyncio.sleep(0.01)
        for v in (100, 101, 102):
            await b.send(value=v)
        await asyncio.sleep(1)
        assert committed(broker, "comb-acks", "a") == 3
        assert committed(broker, "comb-acks", "b") == 1
        gate.set()
        while committed(broker, "comb-acks", "b") != 3:
            await asyncio.sleep(0.01)
    assert got == [0, 1, 2, 100, 101, 102]


async def test_combine_ends_when_every_input_ended(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Two limited streams: the combined stream ends once both did."""
    fill(broker, "a", range(2))
    fill(broker, "b", range(10, 13))
    app = make_app("comb-end")
    b = app.topic("b").stream().take(3)
    got: list[int] = []
    ended = asyncio.Event()

    @app.agent(app.topic("a"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.take(2).combine(b):
            got.append(v)
        ended.set()

    async with app:
        await asyncio.wait_for(ended.wait(), 10)
    assert sorted(got) == [0, 1, 10, 11, 12]


def test_combine_checks_its_arguments(make_app: AppFactory) -> None:
    """No other stream, a non-stream or a stream of another app is refused at once."""
    app, other = make_app("one"), make_app("two")
    stream = app.topic("a").stream()
    with pytest.raises(ConfigurationError, match="at least one"):
        stream.combine()
    with pytest.raises(ArgumentTypeError, match="takes Streams") as info:
        stream.combine(app.topic("b"))  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    with pytest.raises(ConfigurationError, match="belongs to app 'two'"):
        stream.combine(other.topic("b").stream())
