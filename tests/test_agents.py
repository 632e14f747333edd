"""Agents: running over a stream, failing safely, concurrency keeping commits correct."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rxstreams import (
    AgentError,
    AskTimeoutError,
    CodecError,
    Event,
    Stream,
    TopicPartition,
    current_event,
)
from rxstreams.testing import pending_asks
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


@pytest.mark.parametrize("on_error", ["skip", "retry", "dead_letter"])
async def test_on_error_deals_with_the_event_and_restarts_the_instance(
    make_app: AppFactory, broker: MemoryBroker, on_error: str
) -> None:
    """skip acks the failed event, retry processes it again, dead_letter sends its bytes
    and the error to `<topic>-dlq`; in each case the instance restarts, sees the rest of
    the stream, and everything is committed."""
    fill(broker, "t", range(6))
    app = make_app(f"p-{on_error}")
    seen: list[int] = []
    failures = 0

    @app.agent(app.topic("t"), on_error=on_error)
    async def work(stream: Stream[int]) -> None:
        nonlocal failures
        async for v in stream:
            seen.append(v)
            if v == 3 and failures == 0:
                failures += 1
                raise ValueError("once")

    await app.run(until_idle=True, timeout=30)
    assert committed(broker, f"p-{on_error}", "t") == 6
    assert work.restarts == 1
    expected = [0, 1, 2, 3, 3, 4, 5] if on_error == "retry" else [0, 1, 2, 3, 4, 5]
    assert sorted(seen) == expected
    dlq = broker.records(TopicPartition("t-dlq", 0)) if "t-dlq" in broker.topics() else []
    if on_error == "dead_letter":
        assert [m.value for m in dlq] == [b"3"]
        headers = dict(dlq[0].headers)
        assert b"ValueError('once')" in headers["rxs-error"]
        assert headers["rxs-origin"] == b"t[0]@3"
    else:
        assert dlq == []


async def test_on_error_function_decides_per_exception(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A function on_error skips what it knows and lets the rest crash the app."""
    fill(broker, "t", [1, 2, 3, 4])
    app = make_app("decide")
    calls: list[tuple[str, int | None]] = []

    def decide(agent: object, exc: Exception, event: Event[object, int] | None) -> str | None:
        calls.append((type(exc).__name__, None if event is None else event.value))
        return "skip" if isinstance(exc, KeyError) else None

    @app.agent(app.topic("t"), on_error=decide)
    async def work(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 2:
                raise KeyError(v)
            if v == 4:
                raise RuntimeError("fatal")

    with pytest.raises(AgentError, match="fatal"):
        await app.run(timeout=30)
    assert calls == [("KeyError", 2), ("RuntimeError", 4)]
    assert committed(broker, "decide", "t") == 3


async def test_operator_errors_follow_on_error(make_app: AppFactory, broker: MemoryBroker) -> None:
    """An exception in a map function with on_error='skip' skips that event; the stream
    keeps running."""
    fill(broker, "t", [1, 0, 2])
    app = make_app("op-skip")
    out: list[float] = []

    @app.agent(app.topic("t"), on_error="skip")
    async def inverse(stream: Stream[int]) -> None:
        async for v in stream.map(lambda v: 1 / v):
            out.append(v)

    await app.run(until_idle=True, timeout=30)
    assert out == [1.0, 0.5]
    assert committed(broker, "op-skip", "t") == 3


async def test_supervisor_crash_stops_after_dealing_with_the_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """supervisor_strategy='crash' with on_error='skip': the event is skipped (committed),
    then the app stops with the error."""
    fill(broker, "t", [1, 2, 3])
    app = make_app("sup-crash")

    @app.agent(app.topic("t"), on_error="skip", supervisor_strategy="crash")
    async def work(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 2:
                raise ValueError("two")

    with pytest.raises(AgentError, match="two"):
        await app.run(timeout=30)
    assert committed(broker, "sup-crash", "t") == 2


async def test_one_for_all_restarts_every_instance_and_loses_nothing(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With one_for_all, a failure restarts the other instances too; the event another
    instance was working on is delivered again, so every value is processed."""
    fill(broker, "t", range(20))
    app = make_app("all4one")
    done: list[int] = []
    failed = False

    @app.agent(app.topic("t"), concurrency=3, on_error="skip", supervisor_strategy="one_for_all")
    async def work(stream: Stream[int]) -> None:
        nonlocal failed
        async for v in stream:
            if v == 5 and not failed:
                failed = True
                raise ValueError("five")
            await asyncio.sleep(0.01)
            done.append(v)

    await app.run(until_idle=True, timeout=30)
    assert set(done) == set(range(20)) - {5}
    assert work.restarts == 1
    assert committed(broker, "all4one", "t") == 20


async def test_yielded_values_go_to_every_sink(make_app: AppFactory, broker: MemoryBroker) -> None:
    """An agent's yields reach a topic, a channel's agent, another agent and a callable."""
    fill(broker, "t", [1, 2])
    app = make_app("sinks")
    out_topic = app.topic("out")
    called: list[int] = []
    via_agent: list[int] = []

    @app.agent(app.channel())
    async def downstream(stream: Stream[int]) -> None:
        async for v in stream:
            via_agent.append(v)

    @app.agent(app.topic("t"), sink=[out_topic, downstream, called.append])
    async def double(stream: Stream[int]) -> AsyncIterator[int]:
        async for v in stream:
            yield v * 2

    await app.run(until_idle=True, timeout=30)
    assert called == [2, 4]
    assert via_agent == [2, 4]
    assert [m.value for m in broker.records(TopicPartition("out", 0))] == [b"2", b"4"]


async def test_ask_gets_the_yielded_reply(make_app: AppFactory) -> None:
    """ask() returns what the agent yields for that request."""
    app = make_app("rpc")

    @app.agent(app.topic("adder"))
    async def adder(stream: Stream[list[int]]) -> AsyncIterator[int]:
        async for values in stream:
            yield sum(values)

    async with app:
        assert await adder.ask([1, 2, 3]) == 6
        assert await asyncio.gather(adder.ask([1]), adder.ask([2, 2])) == [1, 4]


async def test_ask_times_out_with_a_clear_error(make_app: AppFactory) -> None:
    """An agent that never replies: ask() raises AskTimeoutError after the timeout."""
    app = make_app("silent")

    @app.agent(app.topic("void"))
    async def silent(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    async with app:
        with pytest.raises(AskTimeoutError, match="no reply"):
            await silent.ask(1, timeout=2.0)


async def test_ask_whose_request_cannot_be_sent_waits_for_nothing(make_app: AppFactory) -> None:
    """A request that fails to encode raises from ask() at once, and no reply is waited for
    (the app then stops without an unretrieved future's error)."""
    app = make_app("unsendable")

    @app.agent(app.topic("echo"))
    async def echo(stream: Stream[Any]) -> AsyncIterator[Any]:
        async for value in stream:
            yield value

    async with app:
        with pytest.raises(CodecError):
            await echo.ask({"not json": object()})
        assert pending_asks(app) == 0


async def test_cast_from_sync_code(make_app: AppFactory) -> None:
    """cast() is a plain call that schedules the send on the app's loop."""
    app = make_app("cast")
    got: list[int] = []

    @app.agent(app.topic("c"))
    async def sink(stream: Stream[int]) -> None:
        async for v in stream:
            got.append(v)

    def sync_callback() -> None:
        sink.cast(7)

    async with app:
        sync_callback()
        while not got:
            await asyncio.sleep(0.01)
    assert got == [7]


async def test_a_cast_right_before_stop_is_sent(make_app: AppFactory, broker: MemoryBroker) -> None:
    """cast() from a script, then stop() at once (the app never started): the record is
    on the broker, not cancelled with the app's tasks."""
    app = make_app("caster")

    @app.agent(app.topic("jobs"))
    async def work(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    work.cast(41)
    work.cast(42)
    await app.stop()
    records = broker.records(TopicPartition("jobs", 0))
    assert [r.value for r in records] == [b"41", b"42"]
