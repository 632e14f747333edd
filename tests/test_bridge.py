"""The async-iterator bridge: values, events, items, and bounded memory with a slow agent."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from rxstreams import Event, Stream
from rxstreams.testing import in_flight
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_values_events_and_items(make_app: AppFactory, broker: MemoryBroker) -> None:
    """`async for` yields values, .events() Events, .items() (key, value) pairs."""
    fill(broker, "a", [1, 2], key=lambda v: f"k{v}")
    fill(broker, "b", [3, 4], key=lambda v: f"k{v}")
    fill(broker, "c", [5, 6], key=lambda v: f"k{v}")
    app = make_app("shapes")
    out: dict[str, list[object]] = {"a": [], "b": [], "c": []}

    @app.agent(app.topic("a"))
    async def values(stream: Stream[int]) -> None:
        async for v in stream:
            out["a"].append(v)

    @app.agent(app.topic("b"))
    async def events(stream: Stream[int]) -> None:
        async for e in stream.events():
            assert isinstance(e, Event)
            out["b"].append((e.key, e.value, e.message.offset))  # type: ignore[union-attr]

    @app.agent(app.topic("c"))
    async def items(stream: Stream[int]) -> None:
        async for k, v in stream.items():
            out["c"].append((k, v))

    await app.run(until_idle=True, timeout=30)
    assert out == {
        "a": [1, 2],
        "b": [("k3", 3, 0), ("k4", 4, 1)],
        "c": [("k5", 5), ("k6", 6)],
    }


async def test_manual_ack_in_events_loop_is_not_counted_twice(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """event.ack() inside the loop, then the loop moving on: one ack, commits stay right."""
    fill(broker, "t", range(5))
    app = make_app("manual")
    results: list[bool] = []

    @app.agent(app.topic("t"))
    async def acker(stream: Stream[int]) -> None:
        async for e in stream.events():
            results.append(e.ack())
            results.append(e.ack())

    await app.run(until_idle=True, timeout=30)
    assert results == [True, False] * 5
    assert committed(broker, "manual", "t") == 5


async def test_breaking_out_of_the_loop_acks_the_last_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """An agent that breaks after 3 values has finished with them: offsets 0-2 commit."""
    fill(broker, "t", range(10))
    app = make_app("brk", stream_buffer_maxsize=4, max_poll_records=2)

    @app.agent(app.topic("t"))
    async def three(stream: Stream[int]) -> None:
        n = 0
        async for _ in stream:
            n += 1
            if n == 3:
                break

    await app.run(until_idle=True, timeout=30)
    assert (committed(broker, "brk", "t") or 0) >= 3


@pytest.mark.slow
async def test_memory_stays_bounded_with_a_slow_agent_and_a_million_events(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """1,000,000 events wait on the broker; a slow agent works through 20,000 of them.

    Bound: in flight never exceeds stream_buffer_maxsize + max_poll_records (1,000 + 500),
    and the memory the app allocates while running stays under 16 MiB (measured here:
    about 2.4 MiB; 1,000,000 Events alone would be well over 100 MiB).
    """
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    broker.create_topic("big", 1)
    payload = b'{"n": 1}'
    for _ in range(1_000_000):
        producer.send_soon("big", payload)
    maxsize, fetch = 1_000, 500
    app = make_app("slow", stream_buffer_maxsize=maxsize, max_poll_records=fetch)
    peak_in_flight = 0
    processed = 0
    enough = asyncio.Event()

    @app.agent(app.topic("big"))
    async def slow(stream: Stream[dict[str, int]]) -> None:
        nonlocal peak_in_flight, processed
        async for _ in stream:
            processed += 1
            peak_in_flight = max(peak_in_flight, in_flight(app, "big"))
            if processed % 100 == 0:
                await asyncio.sleep(0.01)  # slow: virtual time, no real waiting
            if processed == 20_000:
                enough.set()

    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        async with app:
            await enough.wait()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_in_flight <= maxsize + fetch
    assert peak - base < 16 * 1024 * 1024, f"{(peak - base) / 2**20:.1f} MiB"
    assert 20_000 <= (committed(broker, "slow", "big") or 0) <= 20_000 + maxsize + fetch
