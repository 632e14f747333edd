"""join: keyed, time-windowed joins; what stays in flight and when it is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest
from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler
from structlog.testing import capture_logs

from rxstreams import (
    AgentError,
    App,
    ArgumentTypeError,
    ConfigurationError,
    Event,
    RxStreamsError,
    Stream,
)
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed

# -- time logic, on a TestScheduler (one tick = one second) ------------------------------------


def ev(key: Any, value: Any, ts: float) -> Event[Any, Any]:
    """An event of ``key`` and ``value`` at event time ``ts``."""
    return Event(key=key, value=value, timestamp=ts)


def run_join(
    app: App,
    *inputs: list[Any],
    key: Callable[[Any], Any] | None = None,
    within: float = 5,
) -> list[tuple[float, Any]]:
    """Join hot observables of recorded events; return (tick, value or 'C') pairs."""
    sched = TestScheduler()
    streams = [
        Stream(observable=sched.create_hot_observable(*records), app=app) for records in inputs
    ]

    def create() -> Observable[Any]:
        joined = streams[0].join(*streams[1:], key=key, within=within, scheduler=sched)
        return joined.observable

    res = sched.start(create)
    out: list[tuple[float, Any]] = []
    for m in res.messages:
        n = m.value
        out.append((m.time, n.value.value if n.kind == "N" else n.kind))
    return out


def test_events_with_the_same_key_within_the_window_join(make_app: AppFactory) -> None:
    """a at 1 and a at 3 (2 s apart) join; b at 1 and b at 9 (8 s apart) do not."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev("a", "a1", 1)), on_next(203, ev("b", "b1", 1))],
        [on_next(202, ev("a", "a3", 3)), on_next(204, ev("b", "b9", 9))],
    )
    assert out == [(202, ("a1", "a3"))]


def test_each_combination_is_emitted_once_in_input_order(make_app: AppFactory) -> None:
    """Every pair of same-key events within the window, emitted when its second event
    arrives, as (this stream's value, the other's)."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev("k", "L1", 10)), on_next(203, ev("k", "L2", 11))],
        [on_next(202, ev("k", "R1", 12)), on_next(204, ev("k", "R2", 13))],
    )
    assert out == [
        (202, ("L1", "R1")),
        (203, ("L2", "R1")),
        (204, ("L1", "R2")),
        (204, ("L2", "R2")),
    ]


def test_one_input_running_ahead_does_not_push_the_other_out(make_app: AppFactory) -> None:
    """The left input reached event time 20 before the right one started: its event at
    10 still joins the right's 12. Once the right reached 26, both 10 and 20 left."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev("k", "L10", 10)), on_next(202, ev("k", "L20", 20))],
        [
            on_next(203, ev("k", "R12", 12)),
            on_next(204, ev("k", "R26", 26)),
            on_next(205, ev("k", "R17", 17)),
        ],
    )
    assert out == [(203, ("L10", "R12"))]


def test_late_events_are_not_kept(make_app: AppFactory) -> None:
    """An event already older than the window joins what is there but is not kept: an
    event of the other input arriving after it does not find it."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev("x", "X20", 20)), on_next(203, ev("k", "L12", 12))],
        [on_next(202, ev("y", "Y20", 20)), on_next(204, ev("k", "R13", 13))],
    )
    assert out == []


def test_the_key_function_and_none_keys(make_app: AppFactory) -> None:
    """key= picks the join key from the value; a None key never matches."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev(None, {"id": 1, "v": "a"}, 1)), on_next(202, ev(None, {"v": "n"}, 1))],
        [on_next(203, ev(None, {"id": 1, "v": "b"}, 2)), on_next(204, ev(None, {"v": "m"}, 1))],
        key=lambda value: value.get("id"),
    )
    assert out == [(203, ({"id": 1, "v": "a"}, {"id": 1, "v": "b"}))]


def test_the_idle_timer_empties_the_windows(make_app: AppFactory) -> None:
    """With no events for a while, event time moves on with the scheduler's clock: an
    event at 100 arriving 5 ticks after its partner joins it, 60 ticks after it does not
    (the partner left after three periods of 10)."""
    app = make_app("unit")
    soon = run_join(
        app, [on_next(210, ev("k", "L", 100))], [on_next(215, ev("k", "R", 100))], within=10
    )
    late = run_join(
        app, [on_next(210, ev("k", "L", 100))], [on_next(270, ev("k", "R", 100))], within=10
    )
    assert soon == [(215, ("L", "R"))]
    assert late == []


def test_three_inputs_join_when_all_three_are_within_the_window(make_app: AppFactory) -> None:
    """A triple is emitted when its last event arrives, with values in input order, and
    only when all three timestamps are within the window of each other."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(203, ev("k", "A", 4)), on_next(206, ev("j", "A9", 9))],
        [on_next(201, ev("k", "B", 1)), on_next(204, ev("j", "B1", 1))],
        [on_next(202, ev("k", "C", 5)), on_next(205, ev("j", "C9", 9))],
    )
    assert out == [(203, ("A", "B", "C"))]


def test_the_join_ends_when_every_input_ended(make_app: AppFactory) -> None:
    """Completion of all inputs completes the join (one input ending is not enough)."""
    app = make_app("unit")
    out = run_join(
        app,
        [on_next(201, ev("k", "L", 1)), on_completed(203)],
        [on_next(202, ev("k", "R", 2)), on_completed(204)],
    )
    assert out == [(202, ("L", "R")), (204, "C")]


def test_join_checks_its_arguments(make_app: AppFactory) -> None:
    """within missing or not > 0, no other stream, another app's stream, a key that is not
    a function: refused at once."""
    app, other = make_app("one"), make_app("two")
    a, b = app.topic("a").stream(), app.topic("b").stream()
    with pytest.raises(TypeError, match="within"):
        a.join(b)  # type: ignore[call-overload]
    with pytest.raises(ArgumentTypeError, match="function of the value"):
        a.join(b, within=1, key="id")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="> 0"):
        a.join(b, within=0)
    with pytest.raises(ConfigurationError, match="at least one"):
        a.join(within=1)
    with pytest.raises(ConfigurationError, match="belongs to app"):
        a.join(other.topic("b").stream(), within=1)


def test_a_batch_fails_the_joined_stream_with_an_rxstreams_type_error(
    make_app: AppFactory,
) -> None:
    """A list (a buffer's batch) reaching join errors the stream with ArgumentTypeError,
    which is both an RxStreamsError and a TypeError."""
    app = make_app("unit")
    sched = TestScheduler()
    batches = Stream[Any](
        observable=sched.create_hot_observable(on_next(201, [ev("k", "L", 1)])), app=app
    )
    events = Stream[Any](observable=sched.create_hot_observable(), app=app)
    errors: list[Exception] = []
    batches.join(events, within=5, scheduler=sched).observable.subscribe(
        on_error=errors.append, scheduler=sched
    )
    sched.start()
    assert len(errors) == 1
    assert isinstance(errors[0], ArgumentTypeError)
    assert isinstance(errors[0], RxStreamsError)
    assert isinstance(errors[0], TypeError)
    assert "join before buffer()" in str(errors[0])


# -- acks and commits on the embedded broker ------------------------------------------------

pytestmark_broker = pytest.mark.looptime


def produce(broker: MemoryBroker, topic: str, records: Iterable[tuple[str, Any, float]]) -> None:
    """Produce (key, value, event time in seconds) records to a one-partition topic."""
    broker.create_topic(topic, 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="t"))
    for key, value, ts in records:
        producer.send_soon(
            topic, orjson.dumps(value), key=orjson.dumps(key), timestamp_ms=int(ts * 1000)
        )


@pytestmark_broker
async def test_offsets_are_committed_once_events_left_the_window(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Joined events stay uncommitted while in the window. R0 arrives after the left input
    reached 1100, so it is late: committed once its result is processed. L0 leaves when
    the right input goes quiet, L1 (the newest) when both did: then left is committed."""
    produce(broker, "left", [("k1", "L0", 1000), ("k2", "L1", 1100)])
    produce(broker, "right", [("k1", "R0", 1002)])
    app = make_app("join-acks", commit_every=1)
    right = app.topic("right").stream()
    got: list[tuple[Any, ...]] = []

    @app.agent(app.topic("left"))
    async def read(stream: Stream[str]) -> None:
        async for pair in stream.join(right, within=5):
            got.append(pair)

    async with app:
        while committed(broker, "join-acks", "right") != 1:
            await asyncio.sleep(0.01)
        assert got == [("L0", "R0")]
        assert committed(broker, "join-acks", "left") is None  # L0 and L1 in the window
        while committed(broker, "join-acks", "left") is None:
            await asyncio.sleep(0.01)
        assert committed(broker, "join-acks", "left") == 1  # L0 left, L1 still there
        while committed(broker, "join-acks", "left") != 2:
            await asyncio.sleep(0.01)


@pytestmark_broker
async def test_a_result_not_processed_holds_its_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """While the agent is stuck on a joined tuple, neither input's offset is committed,
    though both events have long left the window."""
    produce(broker, "left", [("k", "L0", 1000), ("z", "L1", 2000)])
    produce(broker, "right", [("k", "R0", 1001), ("z", "R1", 2000)])
    app = make_app("join-held", commit_every=1)
    right = app.topic("right").stream()
    gate = asyncio.Event()
    got: list[tuple[Any, ...]] = []

    @app.agent(app.topic("left"))
    async def read(stream: Stream[str]) -> None:
        async for pair in stream.join(right, within=5):
            if pair == ("L0", "R0"):
                await gate.wait()
            got.append(pair)

    async with app:
        await asyncio.sleep(60)  # long past the idle eviction
        assert committed(broker, "join-held", "left") is None
        assert committed(broker, "join-held", "right") is None
        gate.set()
        while (
            committed(broker, "join-held", "left") != 2
            or committed(broker, "join-held", "right") != 2
        ):
            await asyncio.sleep(0.1)
    assert got == [("L0", "R0"), ("L1", "R1")]


@pytestmark_broker
async def test_events_in_the_window_are_not_committed_at_stop(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """An event still waiting in the window when the app stops is read again next time,
    and joins what arrives then."""
    produce(broker, "left", [("k", "L0", 1000)])
    app = make_app("join-stop", commit_every=1, shutdown_timeout=0.1)
    right = app.topic("right").stream()

    @app.agent(app.topic("left"))
    async def read(stream: Stream[str]) -> None:
        async for _ in stream.join(right, within=60):
            pass

    async with app:
        await asyncio.sleep(1)
    assert committed(broker, "join-stop", "left") is None

    produce(broker, "right", [("k", "R0", 1010)])
    app2 = make_app("join-stop")
    right2 = app2.topic("right").stream()
    got: list[tuple[Any, ...]] = []

    @app2.agent(app2.topic("left"))
    async def read2(stream: Stream[str]) -> None:
        async for pair in stream.join(right2, within=60):
            got.append(pair)

    await app2.run(until_idle=True, timeout=600)
    assert got == [("L0", "R0")]
    assert committed(broker, "join-stop", "left") == 1
    assert committed(broker, "join-stop", "right") == 1


@pytestmark_broker
async def test_three_topics_join_and_all_are_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A three-way join over three topics emits the triple, and every input is committed
    once the windows emptied."""
    produce(broker, "a", [("k", "A", 1000)])
    produce(broker, "b", [("k", "B", 1001)])
    produce(broker, "c", [("k", "C", 1002), ("j", "C2", 1003)])
    app = make_app("join3")
    b, c = app.topic("b").stream(), app.topic("c").stream()
    got: list[tuple[Any, ...]] = []

    @app.agent(app.topic("a"))
    async def read(stream: Stream[str]) -> None:
        async for triple in stream.join(b, c, within=5):
            got.append(triple)

    await app.run(until_idle=True, timeout=600)
    assert got == [("A", "B", "C")]
    assert committed(broker, "join3", "a") == 1
    assert committed(broker, "join3", "b") == 1
    assert committed(broker, "join3", "c") == 2


@pytestmark_broker
async def test_a_window_as_large_as_the_buffer_is_logged_and_still_moves_on(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With stream_buffer_maxsize 4 and ten events inside one window, fetching of that
    input pauses (logged as join_window_full); the idle timer moves event time on, so
    every event is still processed and committed."""
    produce(broker, "left", [("k", n, 1000 + n) for n in range(10)])
    app = make_app("join-full", stream_buffer_maxsize=4, max_poll_records=2)
    right = app.topic("right").stream()

    @app.agent(app.topic("left"))
    async def read(stream: Stream[str]) -> None:
        async for _ in stream.join(right, within=60):
            pass

    with capture_logs() as logs:
        await app.run(until_idle=True, timeout=3600)
    assert any(e["event"] == "join_window_full" for e in logs)
    assert committed(broker, "join-full", "left") == 10


@pytestmark_broker
async def test_a_failing_key_function_stops_the_app_before_that_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """key() raising on the third event stops the app (the default error policy), and
    nothing is committed past it (the first two are still in the window)."""
    produce(broker, "left", [("k", {"id": 1}, 1000), ("k", {"id": 2}, 1100), ("k", {}, 1200)])
    app = make_app("join-keyfail")
    right = app.topic("right").stream()

    @app.agent(app.topic("left"))
    async def read(stream: Stream[dict[str, int]]) -> None:
        async for _ in stream.join(right, key=lambda v: v["id"], within=5):
            pass

    with pytest.raises(AgentError, match="KeyError"):
        await app.run(timeout=30)
    assert committed(broker, "join-keyfail", "left") is None


@pytestmark_broker
async def test_a_mapped_result_not_processed_holds_its_inputs(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """join(...).map(f): the agent stuck on the mapped tuple holds both inputs' commits."""
    produce(broker, "left", [("k", "L0", 1000), ("z", "L1", 2000)])
    produce(broker, "right", [("k", "R0", 1001), ("z", "R1", 2000)])
    app = make_app("join-map", commit_every=None, commit_interval=1)
    right = app.topic("right").stream()
    gate = asyncio.Event()

    @app.agent(app.topic("left"))
    async def read(stream: Stream[str]) -> None:
        async for joined in stream.join(right, within=5).map("+".join):
            if joined == "L0+R0":
                await gate.wait()

    async with app:
        await asyncio.sleep(60)
        left, right_ = committed(broker, "join-map", "left"), committed(broker, "join-map", "right")
        gate.set()
    assert (left, right_) == (None, None)
