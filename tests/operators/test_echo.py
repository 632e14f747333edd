"""echo: print each value, or forward each event to channels, passing events through."""

from __future__ import annotations

import asyncio
import io

import orjson
import pytest

from rxstreams import ConfigurationError, Stream, TopicPartition
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_echo_prints_each_value_and_passes_it_on(
    make_app: AppFactory, broker: MemoryBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without channels, every value is printed to stdout and reaches the agent; the
    offsets are committed as usual."""
    fill(broker, "t", ["a", "b", "c"])
    app = make_app("print")
    got: list[str] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[str]) -> None:
        async for v in stream.echo():
            got.append(v)

    capsys.readouterr()
    await app.run(until_idle=True, timeout=30)  # nothing configured: no log lines on stdout
    assert got == ["a", "b", "c"]
    assert capsys.readouterr().out.splitlines() == ["a", "b", "c"]
    assert committed(broker, "print", "t") == 3


async def test_echo_prints_to_a_file(make_app: AppFactory, broker: MemoryBroker) -> None:
    """file= receives the printed values."""
    fill(broker, "t", [1, 2])
    app = make_app("file")
    out = io.StringIO()

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for _ in stream.echo(file=out):
            pass

    await app.run(until_idle=True, timeout=30)
    assert out.getvalue() == "1\n2\n"


async def test_echo_never_acks_itself(make_app: AppFactory, broker: MemoryBroker) -> None:
    """A stuck agent after echo holds the commit back, though the forwards are done."""
    fill(broker, "t", range(5))
    broker.create_topic("copy", 1)
    app = make_app("noack", commit_every=1)
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.echo("copy"):
            if v == 1:
                await gate.wait()
            got.append(v)

    async with app:
        while len(broker.records(TopicPartition("copy", 0))) < 5:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "noack", "t") == 1
        gate.set()
        while committed(broker, "noack", "t") != 5:
            await asyncio.sleep(0.01)
    assert got == list(range(5))


async def test_echo_forwards_every_event_to_every_channel(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With a channel and a topic, both receive each event and the agent sees them all;
    every offset is committed."""
    fill(broker, "t", range(6))
    app = make_app("fwd")
    channel = app.channel()
    got: list[int] = []
    from_channel: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.echo(channel, app.topic("copy")):
            got.append(v)

    @app.agent(channel)
    async def side(stream: Stream[int]) -> None:
        async for v in stream:
            from_channel.append(v)

    await app.run(until_idle=True, timeout=30)
    assert got == from_channel == list(range(6))
    copies = [orjson.loads(m.value) for m in broker.records(TopicPartition("copy", 0))]
    assert copies == list(range(6))
    assert committed(broker, "fwd", "t") == 6


async def test_a_slow_channel_reader_holds_the_commit(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The message of an echoed event is committed only once the channel's reader
    processed it too, while the main agent has long moved on."""
    fill(broker, "t", range(5))
    app = make_app("slowch", commit_every=1)
    channel = app.channel()
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.echo(channel):
            got.append(v)

    @app.agent(channel)
    async def side(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 3:
                await gate.wait()

    async with app:
        while len(got) < 5:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "slowch", "t") == 3
        gate.set()
        while committed(broker, "slowch", "t") != 5:
            await asyncio.sleep(0.01)


async def test_a_full_channel_makes_echo_wait_not_drop(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With a channel of maxsize 2 and a stuck reader, echo holds the rest in flight
    (the channel never gets more than its bound queued) and delivers all of it later."""
    fill(broker, "t", range(20))
    app = make_app("fullch")
    channel = app.channel(maxsize=2)
    gate = asyncio.Event()
    side_got: list[int] = []
    peak = 0

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for _ in stream.echo(channel):
            pass

    @app.agent(channel)
    async def side(stream: Stream[int]) -> None:
        nonlocal peak
        async for v in stream:
            peak = max(peak, channel._source().in_flight)
            await gate.wait()
            side_got.append(v)

    async with app:
        await asyncio.sleep(1)
        assert side_got == []
        assert committed(broker, "fullch", "t") is None
        gate.set()
        while committed(broker, "fullch", "t") != 20:
            await asyncio.sleep(0.01)
    assert side_got == list(range(20))
    assert peak <= 2


async def test_an_unknown_channel_is_refused(make_app: AppFactory) -> None:
    """echo() with something that is neither a topic nor a channel raises at once."""
    app = make_app("refuse")
    with pytest.raises(ConfigurationError, match="cannot forward to"):
        app.topic("t").stream().echo(object())
