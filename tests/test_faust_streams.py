"""Faust's stream spellings: noack/ack, enumerate, take_events, and what happens when a
Faust habit (take as batching) ends an agent while its app runs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from rxstreams import Event, Stream
from rxstreams.testing import in_flight
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_noack_events_are_committed_only_once_acked(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """noack(): moving past an event does not ack it, even once nothing references it;
    the committed offset stays below the first unacked event until ack() is called, then
    advances past every acked one."""
    fill(broker, "t", list(range(5)))
    app = make_app("noack", commit_interval=0.1, commit_every=1)
    seen: list[int] = []
    held: list[Event[Any, int]] = []
    all_seen = asyncio.Event()

    @app.agent(app.topic("t"))
    async def batch(stream: Stream[int]) -> None:
        async for event in stream.noack().events():
            seen.append(event.value)
            if event.value != 1:
                held.append(event)  # offset 1 is let go of without an ack
            if len(seen) == 5:
                all_seen.set()

    async with app:
        await all_seen.wait()
        await asyncio.sleep(1)  # many commit intervals
        assert committed(broker, "noack", "t") in (None, 0)
        assert in_flight(app, "t") == 5
        assert held[0].ack() is True  # offset 0
        await asyncio.sleep(1)
        assert committed(broker, "noack", "t") == 1  # offset 1 was never acked
        for event in held[1:]:
            event.ack()
        await asyncio.sleep(1)
        assert committed(broker, "noack", "t") == 1
        assert in_flight(app, "t") == 1
    assert seen == [0, 1, 2, 3, 4]


async def test_stream_ack_acks_and_says_whether_it_did(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """stream.ack(event) is event.ack(): True the first time, False after; with noack and
    every event acked that way, everything is committed."""
    fill(broker, "t", [1, 2, 3])
    app = make_app("stream-ack")

    @app.agent(app.topic("t"))
    async def manual(stream: Stream[int]) -> Any:
        quiet = stream.noack()
        async for event in quiet.events():
            yield (quiet.ack(event), quiet.ack(event))

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [(True, False)] * 3
    assert committed(broker, "stream-ack", "t") == 3


async def test_noack_applies_to_derived_streams_and_values(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """stream.noack().filter(...) iterated by value: the events passed on are not acked
    (current_event().ack() acks them); the ones filter dropped are acked by it."""
    fill(broker, "t", [0, 1, 2, 3])
    app = make_app("noack-derived", commit_interval=0.1, commit_every=1)
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def evens(stream: Stream[int]) -> None:
        from rxstreams import current_event

        async for value in stream.noack().filter(lambda n: n % 2 == 0):
            if value == 0:
                current_event().ack()
            if value == 2:
                done.set()

    async with app:
        await done.wait()
        await asyncio.sleep(1)
        assert committed(broker, "noack-derived", "t") == 2  # 0 acked, 1 dropped; 2 held


async def test_enumerate_counts_from_start_and_acks_as_iterating(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    fill(broker, "t", ["a", "b", "c"])
    app = make_app("enumerate")

    @app.agent(app.topic("t"))
    async def numbered(stream: Stream[str]) -> Any:
        async for n, value in stream.enumerate(start=1):
            yield (n, value)

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [(1, "a"), (2, "b"), (3, "c")]
    assert committed(broker, "enumerate", "t") == 3


async def test_take_events_yields_lists_of_events_acked_per_list(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """take_events(3, within=1): lists of up to 3 Events (the last one partial, after the
    timeout); a list's events are committed once the loop moved past it."""
    fill(broker, "t", list(range(7)))
    app = make_app("take-events", commit_interval=0.1, commit_every=1)
    commits_seen: list[int | None] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[int]) -> Any:
        async for events in stream.take_events(3, within=1):
            assert all(isinstance(e, Event) for e in events)
            await asyncio.sleep(0.5)  # commit intervals pass while the list is processed
            commits_seen.append(committed(broker, "take-events", "t"))
            yield [e.value for e in events]

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [[0, 1, 2], [3, 4, 5], [6]]
    assert commits_seen == [None, 3, 6]  # never past the list being processed
    assert committed(broker, "take-events", "t") == 7


async def test_take_events_of_a_noack_stream_are_committed_only_once_acked(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """noack().take_events(2, within=1): moving past a list acks nothing; the commit
    stays at the first event of the oldest list not acked, and reaches the end once the
    held list is acked (Faust's noack + take_events habit for writing batches)."""
    fill(broker, "t", list(range(6)))
    app = make_app("noack-take-events", commit_interval=0.1, commit_every=1)
    lists: list[list[Event[Any, int]]] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[int]) -> None:
        async for events in stream.noack().take_events(2, within=1):
            lists.append(events)
            if events[0].value != 2:  # the list [2, 3] is held
                for event in events:
                    stream.ack(event)

    async with app:
        while len(lists) < 3:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # commit intervals pass after the loop moved past [2, 3]
        assert [[e.value for e in events] for events in lists] == [[0, 1], [2, 3], [4, 5]]
        assert committed(broker, "noack-take-events", "t") == 2
        assert in_flight(app) == 2
        assert [e.ack() for e in lists[1]] == [True, True]
        await asyncio.sleep(1)
        assert committed(broker, "noack-take-events", "t") == 6


async def test_an_agent_ended_by_take_while_the_app_runs_says_why_at_warning(
    make_app: AppFactory, broker: MemoryBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Faust's ``take(100, within=1)`` batches; here it limits the stream, so the agent
    returns after the first values while the worker keeps running: a WARNING says so and
    names buffer(). Events after the limit are not committed (the next run gets them)."""
    caplog.set_level(logging.WARNING)
    fill(broker, "t", [{"n": i} for i in range(5)])
    app = make_app("faust-take")
    got: list[Any] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[dict[str, int]]) -> None:
        async for batch in stream.take(2, within=1):
            got.append(list(batch))  # a Faust user expects a list: gets a dict's keys

    await app.run(until_idle=True, timeout=30)
    assert got == [["n"], ["n"]]
    (line,) = [r.getMessage() for r in caplog.records if "agent_returned" in r.getMessage()]
    assert "take(2, within=1)" in line
    assert "stream.buffer(size, timeout=seconds)" in line
    assert committed(broker, "faust-take", "t") == 2


async def test_an_agent_returning_while_the_app_runs_is_a_warning(
    make_app: AppFactory, broker: MemoryBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fill(broker, "t", [1])
    app = make_app("returns")

    @app.agent(app.topic("t"))
    async def once(stream: Stream[int]) -> None:
        async for _ in stream:
            break

    await app.run(until_idle=True, timeout=30)
    lines = [r.getMessage() for r in caplog.records if "agent_returned" in r.getMessage()]
    assert len(lines) == 1
    assert "its function returned" in lines[0]
