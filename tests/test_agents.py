"""Agents: running over a stream, failing safely, concurrency keeping commits correct."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import AgentError, Stream, current_event
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_an_agent_that_raises_stops_the_app_without_committing_past_the_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Default policy: the app stops with AgentError; the failed offset is not committed.

    Events before it are committed; the failed one (offset 5) and everything after it are
    delivered again to the next run of the group.
    """
    fill(broker, "t", range(20))
    app = make_app("fails")

    @app.agent(app.topic("t"))
    async def boom(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 5:
                raise ValueError("bad value 5")

    with pytest.raises(AgentError, match="bad value 5") as info:
        await app.run(timeout=30)
    assert isinstance(info.value.__cause__, ValueError)
    assert committed(broker, "fails", "t") == 5

    again: list[int] = []
    app2 = make_app("fails")

    @app2.agent(app2.topic("t"))
    async def ok(stream: Stream[int]) -> None:
        async for v in stream:
            again.append(v)

    await app2.run(until_idle=True, timeout=30)
    assert again == list(range(5, 20))
    assert committed(broker, "fails", "t") == 20


async def test_an_operator_that_raises_stops_the_app_without_committing_past_it(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A filter predicate raising on offset 3 stops the app; 3 is the committed offset."""
    fill(broker, "t", [1, 2, 3, 0, 5, 6])
    app = make_app("op-fails")

    @app.agent(app.topic("t"))
    async def divide(stream: Stream[int]) -> None:
        async for _ in stream.filter(lambda v: 10 / v > 1):
            pass

    with pytest.raises(AgentError, match="division by zero"):
        await app.run(timeout=30)
    assert committed(broker, "op-fails", "t") == 3


async def test_concurrency_commits_only_the_contiguous_prefix(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With two instances, one stuck on offset 2 holds the commit at 2 while the other
    finishes everything after it (Faust's concurrency commit bug, its issue 606)."""
    fill(broker, "t", range(50))
    app = make_app("conc", commit_every=1)
    release = asyncio.Event()
    done: list[int] = []

    @app.agent(app.topic("t"), concurrency=2)
    async def work(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 2:
                await release.wait()
            done.append(v)

    async with app:
        while len(done) < 49:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "conc", "t") == 2
        release.set()
        while committed(broker, "conc", "t") != 50:
            await asyncio.sleep(0.01)
    assert sorted(done) == list(range(50))


async def test_current_event_is_right_across_awaits_with_concurrency(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Each instance sees its own event from current_event(), before and after awaiting."""
    fill(broker, "t", range(40))
    app = make_app("cur")
    mismatches: list[tuple[int, int]] = []
    seen: list[int] = []

    @app.agent(app.topic("t"), concurrency=4)
    async def check(stream: Stream[int]) -> None:
        async for v in stream:
            before = current_event()
            await asyncio.sleep(0.001 * (v % 3))
            after = current_event()
            if before.value != v or after is not before:
                mismatches.append((v, after.value))
            seen.append(v)

    await app.run(until_idle=True, timeout=30)
    assert sorted(seen) == list(range(40))
    assert mismatches == []
    with pytest.raises(RuntimeError):
        current_event()
