"""rate_limit: a token bucket that delays (never drops), in order, with bounded memory."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from reactivex import Subject
from reactivex.testing import ReactiveTest, TestScheduler

from rxstreams import ConfigurationError, Stream
from rxstreams.operators import rate_limit
from rxstreams.testing import in_flight
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill, recorded

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)


def _recorded6(messages: list[Any]) -> list[tuple[float, Any]]:
    return recorded(messages, ndigits=6)


def _error_at(t: Any, error: Exception) -> Any:
    return on_error(t, error)


def _burst(t: Any, items: list[Any]) -> list[Any]:
    return [on_next(t, x) for x in items]


def test_a_burst_passes_up_to_the_bucket_then_one_per_token() -> None:
    """rate_limit(2): a and b pass at once (the bucket holds 2), then one every 0.5 s,
    in order; none is dropped."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, list("abcde")))
    res = sched.start(lambda: xs.pipe(rate_limit(2, scheduler=sched)))
    assert _recorded6(res.messages) == [
        (210, "a"), (210, "b"), (210.5, "c"), (211, "d"), (211.5, "e"),
    ]  # fmt: skip


def test_items_under_the_rate_are_not_delayed() -> None:
    """One item per second with rate_limit(2): each passes the moment it arrives."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*[on_next(210 + i, i) for i in range(5)])
    res = sched.start(lambda: xs.pipe(rate_limit(2, scheduler=sched)))
    assert _recorded6(res.messages) == [(210 + i, i) for i in range(5)]


def test_per_sets_the_period() -> None:
    """rate_limit(3, per=2, within=2/3): 1.5 per second, a bucket of one: every 2/3 s."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, [0, 1, 2, 3]))
    res = sched.start(lambda: xs.pipe(rate_limit(3, per=2.0, within=2 / 3, scheduler=sched)))
    times = [t for t, _ in _recorded6(res.messages)]
    assert times == pytest.approx([210, 210 + 2 / 3, 210 + 4 / 3, 212], abs=1e-6)


def test_within_sizes_the_bucket() -> None:
    """rate_limit(10, within=0.1) holds one token: a burst is spaced evenly, 0.1 s apart;
    within=0.5 holds five: five pass at once."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, list(range(6))))
    res = sched.start(lambda: xs.pipe(rate_limit(10, within=0.1, scheduler=sched)))
    times = [t for t, _ in _recorded6(res.messages)]
    assert times == pytest.approx([210 + i / 10 for i in range(6)], abs=1e-6)

    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, list(range(6))))
    res = sched.start(lambda: xs.pipe(rate_limit(10, within=0.5, scheduler=sched)))
    times = [t for t, _ in _recorded6(res.messages)]
    assert times == pytest.approx([210] * 5 + [210.1], abs=1e-6)


def test_a_quiet_spell_refills_the_bucket_but_not_beyond_its_size() -> None:
    """After 50 s without items, rate_limit(2) again passes two at once, not a hundred."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, [1, 2, 3]), *_burst(260.0, [4, 5, 6, 7]))
    res = sched.start(lambda: xs.pipe(rate_limit(2, scheduler=sched)))
    assert _recorded6(res.messages) == [
        (210, 1), (210, 2), (210.5, 3), (260, 4), (260, 5), (260.5, 6), (261, 7),
    ]  # fmt: skip


def test_high_rates_earn_tokens_in_millisecond_steps() -> None:
    """rate_limit(100_000, within=0.01) (a bucket of 1000): 1500 items pass as 1000 at
    once, then 100 per millisecond: five timer steps, not five hundred."""
    sched = TestScheduler()
    xs: Subject[int] = Subject()  # (a hot observable spreads over 100 items at one time)

    def burst(*_: Any) -> None:
        for i in range(1500):
            xs.on_next(i)

    sched.schedule_absolute(210.0, burst)
    res = sched.start(lambda: xs.pipe(rate_limit(100_000, within=0.01, scheduler=sched)))
    recorded = _recorded6(res.messages)
    assert [v for _, v in recorded] == list(range(1500))
    per_time = Counter(t for t, _ in recorded)
    assert sorted(per_time.items()) == [
        (210, 1000), (210.001, 100), (210.002, 100), (210.003, 100), (210.004, 100),
        (210.005, 100),
    ]  # fmt: skip


def test_the_end_waits_for_the_delayed_items() -> None:
    """A source that completes while items wait: they all pass, then the completion."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, list("abcd")), on_completed(210))
    res = sched.start(lambda: xs.pipe(rate_limit(2, scheduler=sched)))
    assert _recorded6(res.messages) == [
        (210, "a"), (210, "b"), (210.5, "c"), (211, "d"), (211, "C"),
    ]  # fmt: skip


def test_an_error_is_not_delayed() -> None:
    """An upstream error passes at once, ahead of waiting items."""
    sched = TestScheduler()
    boom = ValueError("boom")
    xs = sched.create_hot_observable(*_burst(210.0, list("abcd")), _error_at(210.1, boom))
    res = sched.start(lambda: xs.pipe(rate_limit(2, scheduler=sched)))
    assert _recorded6(res.messages) == [(210, "a"), (210, "b"), (210.1, "E")]


def test_the_timer_uses_the_scheduler_given_at_subscription() -> None:
    """Without scheduler=, the refill timer runs on the subscriber's scheduler."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(*_burst(210.0, [1, 2]))
    res = sched.start(lambda: xs.pipe(rate_limit(1)))
    assert _recorded6(res.messages) == [(210, 1), (211, 2)]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0,), {}), ((-1.0,), {}), ((True,), {}), (("5",), {}), ((5,), {"per": 0}),
     ((5,), {"within": 0}), ((5,), {"within": -2.0}), ((float("inf"),), {})],
)  # fmt: skip
def test_bad_arguments_are_refused(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """rate, per and within must be positive numbers."""
    with pytest.raises(ConfigurationError):
        rate_limit(*args, **kwargs)


@pytest.mark.looptime
async def test_delayed_events_are_in_flight_until_processed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """rate_limit(10) over 30 events: 10 at once, then one every 0.1 s; at 0.55 s, 15
    were processed and exactly 15 are committed (the waiting ones are not)."""
    fill(broker, "t", range(30))
    app = make_app("rl-acks", commit_every=1, commit_interval=3600)
    seen: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    @app.agent(app.topic("t"))
    async def limited(stream: Stream[int]) -> None:
        async for v in stream.rate_limit(10):
            seen.append((loop.time(), v))

    async with app:
        while not seen:
            await asyncio.sleep(0.001)
        t0 = seen[0][0]
        await asyncio.sleep(t0 + 0.55 - loop.time())
        assert len(seen) == 15
        assert committed(broker, "rl-acks", "t") == 15
        while len(seen) < 30:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
    assert [v for _, v in seen] == list(range(30))
    assert seen[-1][0] - t0 == pytest.approx(2.0, abs=0.01)
    assert committed(broker, "rl-acks", "t") == 30


@pytest.mark.looptime
async def test_a_fast_producer_pauses_fetching_instead_of_growing_the_queue(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """1000 events ready, rate_limit(100), stream_buffer_maxsize=50: the topic pauses, so
    at most 50 (+ one fetch of 10) events are ever in flight; all 1000 pass, in order, in
    about 9 s (100 at once, then 100/s), and all are committed."""
    fill(broker, "t", range(1000))
    app = make_app("rl-bounded", stream_buffer_maxsize=50, max_poll_records=10)
    seen: list[int] = []
    peak = 0
    loop = asyncio.get_running_loop()

    @app.agent(app.topic("t"))
    async def limited(stream: Stream[int]) -> None:
        async for v in stream.rate_limit(100):
            seen.append(v)

    async with app:
        t0 = loop.time()
        while len(seen) < 1000:
            peak = max(peak, in_flight(app, "t"))
            await asyncio.sleep(0.005)
        elapsed = loop.time() - t0
        await asyncio.sleep(0.5)
    assert seen == list(range(1000))
    assert 50 <= peak <= 60
    assert elapsed == pytest.approx(9.5, abs=0.6)
    assert committed(broker, "rl-bounded", "t") == 1000


@pytest.mark.looptime
async def test_events_still_waiting_when_a_take_ends_are_not_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.rate_limit(1).take(3)`` over 10 events: the loop ends after 3 (at 2 s);
    the 7 still waiting in the limiter were never processed: 3 is committed, and the
    next run of the group gets them."""
    fill(broker, "t", range(10))
    app = make_app("rl-take")
    got: list[int] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def three(stream: Stream[int]) -> None:
        async for v in stream.rate_limit(1).take(3):
            got.append(v)
        done.set()

    async with app:
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(1)
    assert got == [0, 1, 2]
    assert committed(broker, "rl-take", "t") == 3

    again: list[int] = []
    app2 = make_app("rl-take")

    @app2.agent(app2.topic("t"))
    async def rest(stream: Stream[int]) -> None:
        async for v in stream:
            again.append(v)

    await app2.run(until_idle=True, timeout=30)
    assert again == list(range(3, 10))
