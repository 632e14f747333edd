"""App: declaring topics and agents, the lifecycle, bounded runs, broker lookup."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from rxstreams import App, AppStateError, ConfigurationError, Stream, TopicPartition
from rxstreams.testing import wait_assigned
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill


def test_broker_url_picks_the_transport_by_entry_point() -> None:
    """memory:// is found through the rxstreams.transports entry points."""
    app = App("a", broker="memory://named-test")
    assert isinstance(app.transport, MemoryTransport)
    assert app.transport.broker is MemoryBroker.named("named-test")


def test_unknown_scheme_is_a_clear_error() -> None:
    """A URL whose scheme no transport serves says which schemes exist."""
    app = App("a", broker="nats://localhost:4222")
    with pytest.raises(ConfigurationError, match=r"no transport for nats://.*memory://"):
        _ = app.transport


def test_topic_is_the_same_object_per_name_and_conflicts_are_refused() -> None:
    """app.topic(name) returns one Topic per name; a different partition count is refused."""
    app = App("a")
    t = app.topic("orders", partitions=4)
    assert app.topic("orders") is t
    with pytest.raises(ConfigurationError, match="4 partitions"):
        app.topic("orders", partitions=8)


@pytest.mark.looptime
async def test_run_until_idle_processes_everything_and_commits(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A bounded run ends once every produced event is processed, with offsets committed."""
    fill(broker, "numbers", range(100))
    app = make_app("sum")
    seen: list[int] = []

    @app.agent(app.topic("numbers"))
    async def add(stream: Stream[int]) -> None:
        async for n in stream:
            seen.append(n)

    await app.run(until_idle=True, timeout=30)
    assert seen == list(range(100))
    assert committed(broker, "sum", "numbers") == 100
    assert app.state == "stopped"


@pytest.mark.looptime
async def test_async_with_starts_and_stops_gracefully(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """`async with app:` runs agents; leaving the block commits what they processed."""
    fill(broker, "t", ["a", "b", "c"])
    app = make_app("ctx")
    got: list[str] = []
    done = asyncio.Event()

    @app.agent(app.topic("t"))
    async def collect(stream: Stream[str]) -> None:
        async for v in stream:
            got.append(v)
            if len(got) == 3:
                done.set()

    async with app:
        assert app.state == "running"
        await done.wait()
    assert got == ["a", "b", "c"]
    assert committed(broker, "ctx", "t") == 3


@pytest.mark.looptime
async def test_run_with_timeout_stops_after_that_long(make_app: AppFactory) -> None:
    """run(timeout=...) returns after the timeout (virtual time) with the app stopped."""
    app = make_app("idle")

    @app.agent(app.topic("nothing"))
    async def wait_forever(stream: Stream[Any]) -> None:
        async for _ in stream:
            pass

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await app.run(timeout=5.0)
    assert loop.time() - t0 == pytest.approx(5.0, abs=0.6)
    assert app.state == "stopped"


@pytest.mark.looptime
async def test_starting_twice_is_an_error(make_app: AppFactory) -> None:
    """An app starts once; a second start says what state it is in."""
    app = make_app("twice")
    async with app:
        with pytest.raises(AppStateError, match="running"):
            await app.start()


@pytest.mark.looptime
async def test_agent_without_channel_gets_a_topic_named_after_it(make_app: AppFactory) -> None:
    """@app.agent() with no channel consumes a topic with the agent's name."""
    app = make_app("named")

    @app.agent(name="greeter")
    async def greet(stream: Stream[str]) -> None:
        async for _ in stream:
            pass

    assert greet.channel is app.topic("greeter")
    assert greet.name == "greeter"


@pytest.mark.looptime
async def test_stop_before_start_is_a_no_op(make_app: AppFactory) -> None:
    """Stopping an app that never started does nothing and leaves it stopped."""
    app = make_app("never")
    await app.stop()
    assert app.state == "stopped"


@pytest.mark.looptime
@pytest.mark.parametrize(("reset", "expected"), [("earliest", [1, 2, 3]), ("latest", [3])])
async def test_auto_offset_reset_picks_where_a_new_group_starts(
    make_app: AppFactory, broker: MemoryBroker, reset: str, expected: list[int]
) -> None:
    """A group with no committed offset starts at the log start (earliest) or only sees
    what is produced after it joined (latest)."""
    fill(broker, "t", [1, 2])
    app = make_app(f"reset-{reset}", auto_offset_reset=reset)
    got: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            got.append(v)

    async with app:
        await wait_assigned(app)
        await asyncio.sleep(0.5)
        fill(broker, "t", [3])
        while 3 not in got:
            await asyncio.sleep(0.01)
    assert got == expected


@pytest.mark.looptime
async def test_a_stream_created_while_running_is_subscribed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A topic first streamed after start (in a notebook cell, inside an agent) is declared,
    subscribed (the group rebalances) and consumed."""
    fill(broker, "first", [1])
    app = make_app("late")
    got: list[int] = []

    @app.agent(app.topic("first"))
    async def first(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    async with app:
        await app.topic("second").send(value=42)

        async def read_second() -> None:
            async for v in app.topic("second").stream():
                got.append(v)
                return

        await asyncio.wait_for(read_second(), timeout=30)
    assert got == [42]
    assert "second" in broker.topics()


async def test_a_script_that_only_sends_delivers_every_record(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Sending from an app that was never started, then stop(): all records are on the
    broker, and the producer is closed."""
    app = make_app("sender")
    for i in range(200):
        await app.topic("only-sent").send(value=i)
    await app.stop()
    assert app.state == "stopped"
    assert broker.partition_count("only-sent") == 1
    records = broker.records(TopicPartition("only-sent", 0))
    assert [orjson.loads(r.value) for r in records if r.value is not None] == list(range(200))
