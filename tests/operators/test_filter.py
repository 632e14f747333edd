"""filter: keep the events whose value passes a predicate; dropped events are acked."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex.testing import ReactiveTest, TestScheduler

from rxstreams import ArgumentTypeError, Event, RxStreamsError, Stream
from rxstreams import operators as rxs
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed


def test_filter_keeps_the_values_that_pass() -> None:
    """rxs.filter(even) over 1 2 3 4: 2 and 4 pass, at the time they came; then the end."""
    sched = TestScheduler()
    xs = sched.create_hot_observable(
        *(on_next(210 + 10 * i, Event[Any, int](value=v)) for i, v in enumerate((1, 2, 3, 4))),
        on_completed(300),
    )
    res = sched.start(lambda: xs.pipe(rxs.filter(lambda v: v % 2 == 0)))
    assert [(m.time, m.value.value.value) for m in res.messages[:-1]] == [(220, 2), (240, 4)]
    assert (res.messages[-1].time, res.messages[-1].value.kind) == (300, "C")


@pytest.mark.looptime
async def test_filter_in_pipe_commits_the_dropped_events(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.pipe(rxs.filter(...))`` in an agent: the even values reach the loop, and
    the dropped odd ones do not hold the commit back."""
    fill(broker, "numbers", range(1, 7))
    app = make_app("pipe-filter")

    @app.agent(app.topic("numbers"))
    async def evens(stream: Stream[int]) -> Any:
        async for n in stream.pipe(rxs.filter(lambda n: n % 2 == 0)):
            yield n

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [2, 4, 6]
    assert committed(broker, "pipe-filter", "numbers") == 6


@pytest.mark.parametrize("bad", [None, 5, "value"])
def test_a_predicate_that_is_not_a_function_is_refused_at_once(
    make_app: AppFactory, bad: Any
) -> None:
    """rxs.filter(bad) and stream.filter(bad) raise ArgumentTypeError (an RxStreamsError
    and a TypeError) when called, not at the first event."""
    stream = make_app("bad-filter").topic("t").stream()
    for call in (lambda: rxs.filter(bad), lambda: stream.filter(bad)):
        with pytest.raises(ArgumentTypeError, match=r"filter\(\) takes a function") as info:
            call()
        assert isinstance(info.value, RxStreamsError)
        assert isinstance(info.value, TypeError)
