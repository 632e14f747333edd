"""Topic sources: fan-out with one ack reference per stream, flow control, bad bytes."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import AgentError, CodecError, Stream
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_every_stream_gets_every_event_and_acks_wait_for_all(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Two agents on one topic both see each event; its offset is committed only after
    the slower agent is done with it."""
    fill(broker, "t", range(10))
    app = make_app("multi", commit_every=1)
    fast: list[int] = []
    slow: list[int] = []
    gate = asyncio.Event()

    @app.agent(app.topic("t"), name="fast")
    async def fast_agent(stream: Stream[int]) -> None:
        async for v in stream:
            fast.append(v)

    @app.agent(app.topic("t"), name="slow")
    async def slow_agent(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 4:
                await gate.wait()
            slow.append(v)

    async with app:
        while len(fast) < 10:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "multi", "t") == 4  # the slow agent is still on offset 4
        gate.set()
        while committed(broker, "multi", "t") != 10:
            await asyncio.sleep(0.01)
    assert fast == slow == list(range(10))


async def test_a_slow_agent_pauses_fetching_instead_of_buffering(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """In-flight events never exceed stream_buffer_maxsize + one fetch (the bound)."""
    fill(broker, "t", range(5_000))
    maxsize, fetch = 100, 50
    app = make_app("flow", stream_buffer_maxsize=maxsize, max_poll_records=fetch)
    peak = 0
    n = 0

    @app.agent(app.topic("t"))
    async def slow(stream: Stream[int]) -> None:
        nonlocal peak, n
        source = app._sources["t"]
        async for _ in stream:
            peak = max(peak, source.in_flight)
            n += 1
            await asyncio.sleep(0.001)

    await app.run(until_idle=True, timeout=600)
    assert n == 5_000
    assert peak <= maxsize + fetch
    assert committed(broker, "flow", "t") == 5_000


async def test_undecodable_message_stops_the_app_and_keeps_its_offset(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Bytes that are not JSON: a clear error naming topic, partition and offset; the
    offset of the bad message is not committed (the messages before it are)."""
    fill(broker, "t", [1, 2])
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="x"))
    producer.send_soon("t", b"{not json")
    fill(broker, "t", [4])
    app = make_app("bad")
    seen: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    with pytest.raises(CodecError, match=r"t\[0\]@2") as info:
        await app.run(timeout=30)
    assert not isinstance(info.value, AgentError)
    assert seen == [1, 2]
    assert committed(broker, "bad", "t") == 2
