"""take: a limited stream (max_ items or within seconds), and what it commits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

from rxstreams import ConfigurationError, Stream
from rxstreams.operators import take
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill, recorded

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed


def test_take_delivers_the_first_items_then_completes() -> None:
    """take(3) passes a, b, c and completes right after c; d and e never arrive."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        on_next(210, "a"), on_next(220, "b"), on_next(230, "c"), on_next(240, "d"),
        on_next(250, "e"), on_completed(300),
    )  # fmt: skip
    res = sched.start(lambda: xs.pipe(take(3)))
    assert recorded(res.messages) == [(210, "a"), (220, "b"), (230, "c"), (230, "C")]


def test_take_ends_when_the_source_ends_first() -> None:
    """take(10) over a source of two items ends with the source."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(on_next(210, 1), on_next(220, 2), on_completed(230))
    res = sched.start(lambda: xs.pipe(take(10)))
    assert recorded(res.messages) == [(210, 1), (220, 2), (230, "C")]


def test_within_ends_the_stream_after_that_many_seconds() -> None:
    """take(10, within=25) subscribed at 200 ends at 225 with what came until then."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        on_next(210, "a"), on_next(220, "b"), on_next(230, "c"), on_completed(400)
    )
    res = sched.start(lambda: xs.pipe(take(10, within=25.0, scheduler=sched)))
    assert recorded(res.messages) == [(210, "a"), (220, "b"), (225, "C")]


def test_whichever_limit_comes_first_wins() -> None:
    """take(2, within=25): the count ends it at 220, before the timer."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(on_next(210, "a"), on_next(220, "b"), on_next(221, "c"))
    res = sched.start(lambda: xs.pipe(take(2, within=25.0, scheduler=sched)))
    assert recorded(res.messages) == [(210, "a"), (220, "b"), (220, "C")]


def test_within_uses_the_scheduler_given_at_subscription() -> None:
    """Without scheduler=, the within timer runs on the subscriber's scheduler (an
    agent's bridge passes the running loop's), never on a thread."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(on_next(210, "a"), on_next(240, "b"))
    res = sched.start(lambda: xs.pipe(take(10, within=20.0)))
    assert recorded(res.messages) == [(210, "a"), (220, "C")]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0,), {}), ((-1,), {}), ((1.5,), {}), ((True,), {}), ((3,), {"within": 0}),
     ((3,), {"within": -1.0}), ((3,), {"within": float("inf")}), ((3,), {"within": "1"})],
)  # fmt: skip
def test_bad_arguments_are_refused(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """max_ must be an int >= 1 and within a positive number of seconds."""
    with pytest.raises(ConfigurationError):
        take(*args, **kwargs)


@pytest.mark.looptime
async def test_an_agent_taking_three_commits_three_and_the_next_run_gets_the_rest(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``async for v in stream.take(3)`` over ten events fetched in one batch: the agent
    returns after three; only those are committed (3), the seven others were never
    processed and the next run of the group gets them."""
    fill(broker, "t", range(10))
    app = make_app("take")
    got: list[int] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def first_three(stream: Stream[int]) -> None:
        async for v in stream.take(3):
            got.append(v)
        done.set()

    async with app:
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(1)
    assert got == [0, 1, 2]
    assert committed(broker, "take", "t") == 3

    again: list[int] = []
    app2 = make_app("take")

    @app2.agent(app2.topic("t"))
    async def rest(stream: Stream[int]) -> None:
        async for v in stream:
            again.append(v)

    await app2.run(until_idle=True, timeout=30)
    assert again == list(range(3, 10))
    assert committed(broker, "take", "t") == 10


@pytest.mark.looptime
async def test_the_commit_does_not_depend_on_fetch_batches(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With fetch batches of 4, take(6) ends in the middle of the second batch: still 6."""
    fill(broker, "t", range(20))
    app = make_app("take-batches", max_poll_records=4)
    got: list[int] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def six(stream: Stream[int]) -> None:
        async for v in stream.take(6):
            got.append(v)
        done.set()

    async with app:
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(1)
    assert got == list(range(6))
    assert committed(broker, "take-batches", "t") == 6


@pytest.mark.looptime
async def test_a_take_that_ended_does_not_hold_back_another_reader_of_the_topic(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Two agents read the topic, one takes 3: the other one's work is all committed."""
    fill(broker, "t", range(10))
    app = make_app("take-shared")
    short: list[int] = []
    full: list[int] = []

    @app.agent(app.topic("t"), name="short")
    async def take3(stream: Stream[int]) -> None:
        async for v in stream.take(3):
            short.append(v)

    @app.agent(app.topic("t"), name="full")
    async def everything(stream: Stream[int]) -> None:
        async for v in stream:
            full.append(v)

    await app.run(until_idle=True, timeout=30)
    assert short == [0, 1, 2]
    assert full == list(range(10))
    assert committed(broker, "take-shared", "t") == 10


@pytest.mark.looptime
async def test_within_ends_an_agent_loop_on_loop_time(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """take(100, within=2.5) while one event arrives per second: the loop ends after
    2.5 s with the events of 0, 1 and 2 s, which are committed; later ones are not."""
    app = make_app("take-within")
    topic = app.topic("t")
    got: list[int] = []
    ended_at: list[float] = []
    loop = asyncio.get_running_loop()

    @app.agent(topic)
    async def briefly(stream: Stream[int]) -> None:
        async for v in stream.take(100, within=2.5):
            got.append(v)
        ended_at.append(loop.time())

    async with app:
        t0 = loop.time()
        for i in range(5):
            await topic.send(value=i)
            await asyncio.sleep(1)
        await asyncio.sleep(1)
    assert got == [0, 1, 2]
    assert ended_at[0] - t0 == pytest.approx(2.5, abs=0.1)
    assert committed(broker, "take-within", "t") == 3
