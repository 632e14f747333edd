"""pipe() with reactivex operators rxstreams does not know: the ack contract still holds.

Each test asserts committed offsets, including after a crash: an event an operator holds
is not committed (it is delivered again), an event it drops does not hold commits back.
"""

from __future__ import annotations

import asyncio

import pytest
from reactivex import operators as ops

from rxstreams import Event, Stream
from rxstreams.testing import crash
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_scan_values_hold_their_event_until_processed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A running sum through ops.scan: each sum is tied to the event it came from, so a
    crash while the agent works on sum #3 leaves offset 2 uncommitted."""
    fill(broker, "t", [1, 2, 3, 4])
    app = make_app("scan", commit_every=1)
    sums: list[int] = []
    stuck = asyncio.Event()

    @app.agent(app.topic("t"))
    async def running(stream: Stream[int]) -> None:
        async for total in stream.pipe(ops.scan(lambda acc, e: acc + e.value, 0)):
            sums.append(total)
            if len(sums) == 3:
                stuck.set()
                await asyncio.Event().wait()

    await app.start()
    await stuck.wait()
    await asyncio.sleep(1)
    await crash(app)
    assert sums == [1, 3, 6]
    assert committed(broker, "scan", "t") == 2


async def test_distinct_until_changed_drops_do_not_hold_commits_back(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Duplicates ops.distinct_until_changed drops are acked: everything is committed."""
    fill(broker, "t", [1, 1, 1, 2, 2, 3, 3, 3])
    app = make_app("distinct")
    out: list[int] = []

    @app.agent(app.topic("t"))
    async def changes(stream: Stream[int]) -> None:
        async for v in stream.pipe(ops.distinct_until_changed(lambda e: e.value)):
            out.append(v)

    await app.run(until_idle=True, timeout=30)
    assert out == [1, 2, 3]
    assert committed(broker, "distinct", "t") == 8


async def test_debounce_holds_the_latest_and_acks_the_rest(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """ops.debounce drops superseded events (acked) and holds the latest (in flight): a
    crash before it is emitted commits nothing past it; a restart delivers it again."""
    fill(broker, "t", [1, 2, 3])
    app = make_app("debounce", commit_every=1, commit_interval=0.1)
    got: list[int] = []

    @app.agent(app.topic("t"))
    async def quiet(stream: Stream[int]) -> None:
        async for v in stream.pipe(ops.debounce(3600.0)):  # never fires before the crash
            got.append(v)

    await app.start()
    while committed(broker, "debounce", "t") != 2:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    await crash(app)
    assert got == []
    assert committed(broker, "debounce", "t") == 2  # 0 and 1 dropped; 2 held

    again: list[int] = []
    app2 = make_app("debounce")

    @app2.agent(app2.topic("t"))
    async def quiet2(stream: Stream[int]) -> None:
        async for v in stream.pipe(ops.debounce(0.5)):
            again.append(v)

    await app2.run(until_idle=True, timeout=30)
    assert again == [3]
    assert committed(broker, "debounce", "t") == 3


async def test_window_with_count_and_flat_map_hold_a_window_until_processed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Windows of 3 collected into lists: events of an incomplete window stay in flight,
    a completed window is committed once the agent moved past it."""
    fill(broker, "t", range(7))
    app = make_app("windows", commit_every=1)
    batches: list[list[int]] = []

    @app.agent(app.topic("t"))
    async def windows(stream: Stream[list[Event[None, int]]]) -> None:
        async for batch in stream.pipe(
            ops.window_with_count(3), ops.flat_map(lambda w: w.pipe(ops.to_list()))
        ):
            batches.append(batch)

    await app.start()
    while len(batches) < 2:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    await crash(app)
    assert batches == [[0, 1, 2], [3, 4, 5]]
    assert committed(broker, "windows", "t") == 6  # offset 6 waits in an open window


async def test_the_last_scan_value_does_not_hold_its_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Once the agent is done with the last derived value, its event is acked too, so a
    bounded run ends and commits everything."""
    fill(broker, "t", [1, 2, 3, 4])
    app = make_app("scan-end")
    sums: list[int] = []

    @app.agent(app.topic("t"))
    async def total(stream: Stream[int]) -> None:
        async for s in stream.pipe(ops.scan(lambda acc, e: acc + e.value, 0)):
            sums.append(s)

    await app.run(until_idle=True, timeout=30)
    assert sums == [1, 3, 6, 10]
    assert committed(broker, "scan-end", "t") == 4
