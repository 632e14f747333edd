"""tee: every event also goes to channels and topics, with one ack reference per branch."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from rxstreams import ConfigurationError, Event, Stream, TopicPartition
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_both_branches_see_every_event_and_everything_is_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """An agent on the main branch and one on the tee'd channel each get every event;
    the channel's reader gets the same message (topic, offset); all offsets commit."""
    fill(broker, "t", range(8))
    app = make_app("tee")
    branch = app.channel()
    main: list[int] = []
    side: list[tuple[str, int, int]] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.tee(branch):
            main.append(v)

    @app.agent(branch)
    async def other(stream: Stream[int]) -> None:
        async for event in stream.events():
            assert event.message is not None
            side.append((event.message.topic, event.message.offset, event.value))

    await app.run(until_idle=True, timeout=30)
    assert main == list(range(8))
    assert side == [("t", n, n) for n in range(8)]
    assert committed(broker, "tee", "t") == 8


async def test_a_stuck_branch_holds_the_commit_back(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The main agent finished everything, the channel's reader is stuck on offset 3: the
    commit stays at 3 until the branch moves on."""
    fill(broker, "t", range(10))
    app = make_app("stuck-branch", commit_every=1)
    branch = app.channel()
    gate = asyncio.Event()
    main: list[int] = []
    side: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.tee(branch):
            main.append(v)

    @app.agent(branch)
    async def other(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 3:
                await gate.wait()
            side.append(v)

    async with app:
        while len(main) < 10:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "stuck-branch", "t") == 3
        gate.set()
        while committed(broker, "stuck-branch", "t") != 10:
            await asyncio.sleep(0.01)
    assert side == list(range(10))


async def test_a_stuck_main_branch_holds_the_commit_back(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The channel's reader finished everything, the main agent is stuck on offset 2."""
    fill(broker, "t", range(6))
    app = make_app("stuck-main", commit_every=1)
    branch = app.channel()
    gate = asyncio.Event()
    side: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.tee(branch):
            if v == 2:
                await gate.wait()

    @app.agent(branch)
    async def other(stream: Stream[int]) -> None:
        async for v in stream:
            side.append(v)

    async with app:
        while len(side) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "stuck-main", "t") == 2
        gate.set()
        while committed(broker, "stuck-main", "t") != 6:
            await asyncio.sleep(0.01)


async def test_a_topic_branch_gets_copies(make_app: AppFactory, broker: MemoryBroker) -> None:
    """A topic branch receives each event's key and value; its reference is released once
    the send is queued, so the commit only waits for the main branch."""
    fill(broker, "t", range(4), key=lambda v: f"k{v}")
    app = make_app("tee-topic")
    main: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.tee("copy"):
            main.append(v)

    await app.run(until_idle=True, timeout=30)
    records = broker.records(TopicPartition("copy", 0))
    assert [(orjson.loads(m.key), orjson.loads(m.value)) for m in records] == [
        (f"k{v}", v) for v in range(4)
    ]
    assert main == list(range(4))
    assert committed(broker, "tee-topic", "t") == 4


async def test_a_full_branch_channel_queues_without_stopping_the_main_branch(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A branch channel of maxsize 2 with a stuck reader: the channel never holds more
    than 2, the main branch gets every event, and the branch catches up later."""
    fill(broker, "t", range(20))
    app = make_app("tee-full")
    branch = app.channel(maxsize=2)
    gate = asyncio.Event()
    main: list[int] = []
    side: list[int] = []
    peak = 0

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.tee(branch):
            main.append(v)

    @app.agent(branch)
    async def other(stream: Stream[int]) -> None:
        nonlocal peak
        async for v in stream:
            peak = max(peak, branch._source().in_flight)
            await gate.wait()
            side.append(v)

    async with app:
        while len(main) < 20:
            await asyncio.sleep(0.01)
        assert committed(broker, "tee-full", "t") is None
        gate.set()
        while committed(broker, "tee-full", "t") != 20:
            await asyncio.sleep(0.01)
    assert side == list(range(20))
    assert peak <= 2


async def test_a_branch_event_can_be_rejected_and_comes_again(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The channel's reader rejects an event once: it is delivered to it again, and the
    offset is committed after the second delivery is processed."""
    fill(broker, "t", range(3))
    app = make_app("tee-reject")
    branch = app.channel()
    side: list[int] = []
    rejected = False

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for _ in stream.tee(branch):
            pass

    @app.agent(branch)
    async def other(stream: Stream[int]) -> None:
        nonlocal rejected
        async for event in stream.events():
            side.append(event.value)
            if event.value == 1 and not rejected:
                rejected = True
                event.reject()

    await app.run(until_idle=True, timeout=30)
    assert sorted(side) == [0, 1, 1, 2]
    assert committed(broker, "tee-reject", "t") == 3


def test_tee_needs_a_branch(make_app: AppFactory) -> None:
    """tee() without channels, or with something that is not one, raises at once."""
    app = make_app("tee-args")
    stream = app.topic("t").stream()
    with pytest.raises(ConfigurationError, match="at least one"):
        stream.tee()
    with pytest.raises(ConfigurationError, match="cannot forward to"):
        stream.tee(Event())
