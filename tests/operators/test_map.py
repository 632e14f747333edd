"""map: transform each value, with a plain or an ``async`` function; the ack follows it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

from rxstreams import ArgumentTypeError, Event, RxStreamsError, Stream
from rxstreams import operators as rxs
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed


def test_map_replaces_each_value_and_keeps_the_key() -> None:
    """rxs.map(x * 10) over 1 2 3: 10 20 30, each with its event's key."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        *(on_next(210 + 10 * i, Event(key=f"k{v}", value=v)) for i, v in enumerate((1, 2, 3))),
        on_completed(300),
    )
    res = sched.start(lambda: xs.pipe(rxs.map(lambda v: v * 10)))
    got = [(m.time, m.value.value.key, m.value.value.value) for m in res.messages[:-1]]
    assert got == [(210, "k1", 10), (220, "k2", 20), (230, "k3", 30)]


@pytest.mark.looptime
async def test_map_in_pipe_with_plain_and_async_functions_commits_everything(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.pipe(rxs.map(f), rxs.map(async g))`` in an agent: the values come out
    transformed, in order, and every offset is committed."""
    fill(broker, "numbers", range(5))
    app = make_app("pipe-map")

    async def slowly_negate(n: int) -> int:
        await asyncio.sleep(0.1 * (5 - n))
        return -n

    @app.agent(app.topic("numbers"))
    async def scaled(stream: Stream[int]) -> Any:
        async for n in stream.pipe(rxs.map(lambda n: n * 10), rxs.map(slowly_negate)):
            yield n

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [0, -10, -20, -30, -40]
    assert committed(broker, "pipe-map", "numbers") == 5


@pytest.mark.parametrize("bad", [None, 5, "value"])
def test_a_function_that_is_not_callable_is_refused_at_once(make_app: AppFactory, bad: Any) -> None:
    """rxs.map(bad) and stream.map(bad) raise ArgumentTypeError (an RxStreamsError and a
    TypeError) when called, not at the first event."""
    stream = make_app("bad-map").topic("t").stream()
    for call in (lambda: rxs.map(bad), lambda: stream.map(bad)):
        with pytest.raises(ArgumentTypeError, match=r"map\(\) takes a function") as info:
            call()
        assert isinstance(info.value, RxStreamsError)
        assert isinstance(info.value, TypeError)
