"""buffer: batches when full or on a timeout, never empty; batches are acked as a whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

from rxstreams import ConfigurationError, Stream
from rxstreams.operators import buffer
from rxstreams.testing import crash
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill, recorded

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)


def test_batches_are_emitted_when_full_and_the_rest_at_the_end() -> None:
    """buffer(2): [a,b] with b, [c,d] with d, and [e] when the source completes."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        on_next(210, "a"), on_next(220, "b"), on_next(230, "c"), on_next(240, "d"),
        on_next(250, "e"), on_completed(300),
    )  # fmt: skip
    res = sched.start(lambda: xs.pipe(buffer(2)))
    assert recorded(res.messages) == [
        (220, ["a", "b"]), (240, ["c", "d"]), (300, ["e"]), (300, "C"),
    ]  # fmt: skip


def test_a_partial_batch_is_flushed_timeout_seconds_after_its_first_item() -> None:
    """buffer(3, timeout=5): [a,b] at 215 (5 s after a), [c,d,e] when full at 232 (its
    timer is cancelled), [f] at 305; idle time between gives no empty batches."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        on_next(210, "a"), on_next(211, "b"), on_next(230, "c"), on_next(231, "d"),
        on_next(232, "e"), on_next(300, "f"), on_completed(400),
    )  # fmt: skip
    res = sched.start(lambda: xs.pipe(buffer(3, timeout=5.0, scheduler=sched)))
    assert recorded(res.messages) == [
        (215, ["a", "b"]), (232, ["c", "d", "e"]), (305, ["f"]), (400, "C"),
    ]  # fmt: skip


def test_the_timeout_uses_the_scheduler_given_at_subscription() -> None:
    """Without scheduler=, the timeout runs on the subscriber's scheduler."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(on_next(210, "a"))
    res = sched.start(lambda: xs.pipe(buffer(3, timeout=5.0)))
    assert recorded(res.messages) == [(215, ["a"])]


def test_an_error_passes_through_at_once() -> None:
    """An upstream error is not delayed by the partial batch."""
    sched = TestScheduler()
    boom = ValueError("boom")
    xs = sched.create_hot_observable(on_next(210, "a"), on_error(220, boom))
    res = sched.start(lambda: xs.pipe(buffer(3, timeout=50.0, scheduler=sched)))
    assert recorded(res.messages) == [(220, "E")]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0,), {}), ((2.5,), {}), ((True,), {}), ((3,), {"timeout": 0}), ((3,), {"timeout": -1}),
     ((7,), {"max_in_flight": 10})],
)  # fmt: skip
def test_bad_arguments_are_refused(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """size >= 1, timeout > 0, and without a timeout a size a paused source lets fill."""
    with pytest.raises(ConfigurationError):
        buffer(*args, **kwargs)


@pytest.mark.looptime
async def test_a_batch_that_could_never_fill_is_refused_with_the_reason(
    make_app: AppFactory,
) -> None:
    """With stream_buffer_maxsize=10 the topic pauses at 10 in flight and resumes at 5:
    buffer(7) without a timeout could hold 6 forever, so it is refused and says why;
    buffer(6), or any size with a timeout, is accepted."""
    app = make_app("buf-cfg", stream_buffer_maxsize=10)
    stream = app.topic("t").stream()
    with pytest.raises(ConfigurationError, match=r"stream_buffer_maxsize=10.*timeout"):
        stream.buffer(7)
    stream.buffer(6)
    stream.buffer(50, timeout=1.0)


@pytest.mark.looptime
async def test_the_largest_size_allowed_never_stalls(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """buffer(6) with stream_buffer_maxsize=10 and fetches of 8 gets through all 60 events
    (buffer(7) stalls there after 42: the case the check refuses)."""
    fill(broker, "t", range(60))
    app = make_app("buf-edge", stream_buffer_maxsize=10, max_poll_records=8)
    sizes: list[int] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[int]) -> None:
        async for batch in stream.buffer(6):
            sizes.append(len(batch))

    await app.run(until_idle=True, timeout=30)
    assert sizes == [6] * 10
    assert committed(broker, "buf-edge", "t") == 60


@pytest.mark.looptime
async def test_rate_limited_batches_as_in_the_spec(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.rate_limit(100.0).buffer(50, timeout=5.0)`` over 120 events: two full
    batches at once (the bucket holds 100), then 20 more at 100/s, flushed by the timeout
    5 s after the first of them; everything is committed."""
    fill(broker, "api-calls", range(120))
    app = make_app("spec-batch")
    batches: list[tuple[float, list[int]]] = []
    loop = asyncio.get_running_loop()

    @app.agent(app.topic("api-calls"))
    async def rate_limited_processing(stream: Stream[int]) -> None:
        async for batch in stream.rate_limit(100.0).buffer(50, timeout=5.0):
            batches.append((loop.time(), batch))

    t0 = loop.time()
    await app.run(until_idle=True, timeout=30)
    assert [len(b) for _, b in batches] == [50, 50, 20]
    assert [v for _, b in batches for v in b] == list(range(120))
    assert batches[1][0] - t0 < 0.1
    assert batches[2][0] - t0 == pytest.approx(5.01, abs=0.05)
    assert committed(broker, "spec-batch", "api-calls") == 120


@pytest.mark.looptime
async def test_nothing_of_a_batch_is_committed_before_the_agent_moves_past_it(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """buffer(10, timeout=30) over 25 events, commit_every=1: while the agent works on the
    first batch nothing is committed; after two batches 20 is, and the partial batch of 5
    is committed only once its timeout flushed it and the agent moved past it."""
    fill(broker, "t", range(25))
    app = make_app("buf-acks", commit_every=1, commit_interval=3600)
    gate = asyncio.Event()
    seen: list[list[int]] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[int]) -> None:
        async for batch in stream.buffer(10, timeout=30.0):
            seen.append(batch)
            if len(seen) == 1:
                await gate.wait()

    loop = asyncio.get_running_loop()
    async with app:
        t0 = loop.time()
        while not seen:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "buf-acks", "t") is None
        gate.set()
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "buf-acks", "t") == 20
        await asyncio.sleep(20)  # the partial batch still waits for its timeout
        assert len(seen) == 2
        assert committed(broker, "buf-acks", "t") == 20
        while committed(broker, "buf-acks", "t") != 25:
            await asyncio.sleep(0.1)
        assert loop.time() - t0 == pytest.approx(30, abs=1.5)
    assert seen[2] == [20, 21, 22, 23, 24]


@pytest.mark.looptime
async def test_a_crash_with_a_partial_batch_redelivers_it(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Killed while 5 events wait in a partial batch: 20 is committed, and the next run
    of the group gets the 5 again."""
    fill(broker, "t", range(25))
    app = make_app("buf-crash", commit_every=1)
    seen: list[list[int]] = []

    @app.agent(app.topic("t"))
    async def batches(stream: Stream[int]) -> None:
        async for batch in stream.buffer(10, timeout=60.0):
            seen.append(batch)

    await app.start()
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(1)
    await crash(app)
    assert committed(broker, "buf-crash", "t") == 20

    again: list[int] = []
    app2 = make_app("buf-crash")

    @app2.agent(app2.topic("t"))
    async def rest(stream: Stream[int]) -> None:
        async for v in stream:
            again.append(v)

    await app2.run(until_idle=True, timeout=30)
    assert again == [20, 21, 22, 23, 24]


@pytest.mark.looptime
async def test_the_end_of_a_limited_stream_flushes_the_partial_batch(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.take(5).buffer(2)``: [0,1], [2,3], [4], then the loop ends; 5 committed."""
    fill(broker, "t", range(10))
    app = make_app("buf-take")
    seen: list[list[int]] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def five(stream: Stream[int]) -> None:
        async for batch in stream.take(5).buffer(2):
            seen.append(batch)
        done.set()

    async with app:
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(1)
    assert seen == [[0, 1], [2, 3], [4]]
    assert committed(broker, "buf-take", "t") == 5


@pytest.mark.looptime
async def test_batches_after_a_take_ended_are_not_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.buffer(3).take(1)`` over 10 events: one batch is processed; the later
    batches and the partial one were not: 3 is committed."""
    fill(broker, "t", range(10))
    app = make_app("buf-take-after")
    seen: list[list[int]] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def one(stream: Stream[int]) -> None:
        async for batch in stream.buffer(3).take(1):
            seen.append(batch)
        done.set()

    async with app:
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(1)
    assert seen == [[0, 1, 2]]
    assert committed(broker, "buf-take-after", "t") == 3


@pytest.mark.looptime
async def test_map_and_filter_after_buffer_see_the_batch_and_keep_its_acks(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """stream.buffer(n).map(f) calls f with the list of values (it raised AttributeError
    on the list before); the mapped value holds every event of its batch, so none is
    committed before the agent is done with it; a batch filter() drops is acked."""
    fill(broker, "t", list(range(7)))
    app = make_app("buffer-map", commit_interval=0.1, commit_every=1)
    seen_committed: list[int | None] = []

    @app.agent(app.topic("t"))
    async def sums(stream: Stream[int]) -> AsyncIterator[int]:
        batches = stream.buffer(3, timeout=1).filter(lambda batch: batch != [3, 4, 5])
        async for total in batches.map(sum):
            await asyncio.sleep(0.5)  # commit intervals pass while the sum is processed
            seen_committed.append(committed(broker, "buffer-map", "t"))
            yield total

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [3, 6]  # 0+1+2, then [3, 4, 5] dropped, then 6 alone
    assert seen_committed == [None, 6]
    assert committed(broker, "buffer-map", "t") == 7
