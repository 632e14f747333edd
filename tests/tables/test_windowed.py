"""Windowed tables on event time (Faust's tumbling/hopping tables): windows chosen by the
event's timestamp, closing on stream time plus grace, late events dropped and counted,
expired windows deleted, recovery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rxstreams import AppStateError, ConfigurationError, Stream
from rxstreams.tables import HoppingWindow, TumblingWindow
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory

pytestmark = pytest.mark.looptime


async def until(check: Any, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "not in time"
        await asyncio.sleep(0.05)


def test_windows_a_timestamp_falls_in() -> None:
    """Tumbling: one window; hopping: size/step of them, oldest first."""
    assert TumblingWindow(10).starts(12.5) == [10.0]
    assert TumblingWindow(10).starts(0) == [0.0]
    assert HoppingWindow(10, 5).starts(12.5) == [5.0, 10.0]
    assert HoppingWindow(10, 5).starts(10) == [5.0, 10.0]
    assert HoppingWindow(1, 0.1).starts(0.35) == [round(-0.6 + i / 10, 9) for i in range(10)]
    assert HoppingWindow(10, 5).start_of(12.5) == 10.0
    with pytest.raises(ConfigurationError, match="step"):
        HoppingWindow(5, 10)
    with pytest.raises(ConfigurationError, match="size must be > 0"):
        TumblingWindow(0)


async def test_a_tumbling_count_closes_its_windows_on_stream_time(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Views per page in 10-second windows of event time: each event counts in the window
    of its timestamp; current() reads it; a window closes (on_window_close with its key,
    bounds and count) once an event's timestamp passes its end; the table keeps every
    window of a key."""
    app = make_app("views")
    closed: list[tuple[Any, Any]] = []
    views = app.Table("views", default=int).tumbling(
        10.0, expires=3600, on_window_close=lambda key, value: closed.append((key, value))
    )
    seen: list[int] = []

    @app.agent(app.topic("clicks"))
    async def count(stream: Stream[str]) -> None:
        async for page in stream:
            views[page] += 1
            seen.append(views[page].current())

    async with app:
        clicks = app.topic("clicks")
        for ts in (1.0, 2.0, 11.0, 12.0, 13.0, 25.0):
            await clicks.send(value="home", timestamp=1_000_000 + ts)
        await until(lambda: len(seen) == 6)
        assert seen == [1, 2, 1, 2, 3, 1]
        base = 1_000_000.0
        assert views.windows("home") == {
            (base, base + 10): 2,
            (base + 10, base + 20): 3,
            (base + 20, base + 30): 1,
        }
        assert closed == [(("home", (base, base + 10)), 2), (("home", (base + 10, base + 20)), 3)]
        assert views.stream_time(0) == base + 25
        assert views["home"].now() == 0  # the wall clock's window: nothing there
        assert views.late == 0


async def test_late_events_are_dropped_and_counted_never_added_to_a_closed_window(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With 5 s of grace, an event 10 s behind the stream time still counts in its window
    (not closed yet); one whose window closed is dropped, counted, logged and handed to
    on_late; the closed window keeps its value."""
    app = make_app("late")
    late: list[Any] = []
    counts = app.Table("counts", default=int).tumbling(
        10.0, grace=5.0, on_late=lambda key, event: late.append((key, event.timestamp))
    )
    done: list[float] = []

    @app.agent(app.topic("events"))
    async def count(stream: Stream[str]) -> None:
        async for event in stream.events():
            counts[event.value] += 1
            done.append(event.timestamp)

    base = 2_000_000.0
    async with app:
        events = app.topic("events")
        for offset in (1.0, 12.0, 23.0, 14.0, 3.0):  # 14: window 10-20 open until 25
            await events.send(value="k", timestamp=base + offset)
        await until(lambda: len(done) == 5)
        assert counts.windows("k") == {
            (base, base + 10): 1,
            (base + 10, base + 20): 2,
            (base + 20, base + 30): 1,
        }
        assert counts.late == 1
        assert late == [("k", base + 3)]


async def test_a_hopping_window_counts_an_event_in_every_window_it_falls_in(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """10-second windows every 5 seconds: an event at 7 counts in the windows starting at
    0 and 5; current() is the newest of them; delta(5) the one 5 seconds before."""
    app = make_app("hop")
    counts = app.Table("counts", default=int).hopping(10.0, 5.0)
    reads: list[tuple[int, int]] = []

    @app.agent(app.topic("events"))
    async def count(stream: Stream[str]) -> None:
        async for key in stream:
            counts[key] += 1
            reads.append((counts[key].current(), counts[key].delta(5)))

    base = 3_000_000.0
    async with app:
        for offset in (7.0, 8.0, 12.0):
            await app.topic("events").send(value="k", timestamp=base + offset)
        await until(lambda: len(reads) == 3)
        assert counts.windows("k") == {
            (base, base + 10): 2,
            (base + 5, base + 15): 3,
            (base + 10, base + 20): 1,
        }
    assert reads == [(1, 1), (2, 2), (1, 3)]


async def test_expired_windows_are_deleted_and_recovery_restores_the_rest(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Windows are deleted once the stream time passes their end plus expires (a
    tombstone in the changelog); a new worker recovers the windows that are left, with
    their keys decoded (window start and key), and carries on counting in them."""
    base = 4_000_000.0

    def build() -> Any:
        app = make_app("exp")
        counts = app.Table("counts", default=int).tumbling(10.0, expires=20.0)
        done: list[int] = []

        @app.agent(app.topic("events"))
        async def count(stream: Stream[str]) -> None:
            async for key in stream:
                counts[key] += 1
                done.append(1)

        return app, counts, done

    app, counts, done = build()
    async with app:
        for offset in (1.0, 11.0, 12.0, 35.0):
            await app.topic("events").send(value="k", timestamp=base + offset)
        await until(lambda: len(done) == 4)
        # window 0-10 ends at 10: deleted once the stream time reached 10 + 20 = 30
        assert counts.windows("k") == {(base + 10, base + 20): 2, (base + 30, base + 40): 1}
    again, recovered, done2 = build()
    async with again:
        await again.topic("events").send(value="k", timestamp=base + 36.0)
        await until(lambda: len(done2) == 1)
        assert recovered.windows("k") == {(base + 10, base + 20): 2, (base + 30, base + 40): 2}
        assert recovered.stream_time(0) == base + 36


async def test_windowed_tables_are_declared_before_use_and_written_in_agents(
    make_app: AppFactory,
) -> None:
    """expires shorter than size + grace is refused; a write outside an agent says why."""
    app = make_app("bad")
    with pytest.raises(ConfigurationError, match="must be at least the window size plus grace"):
        app.Table("a", default=int).tumbling(10.0, expires=5.0, grace=1.0)
    counts = app.Table("b", default=int).tumbling(10.0)
    with pytest.raises(AppStateError, match="a window is chosen by the event's timestamp"):
        counts["k"] += 1
    with pytest.raises(AppStateError, match="outside an agent"):
        counts["k"].current()


async def test_a_quiet_stream_closes_its_last_window_on_the_wall_clock(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """With idle=5, the last window of a stream that goes quiet closes once the partition
    had no write for 5 s and the wall clock carried the stream time past the window's
    end: on_window_close runs from the worker's timer, without a next event; an event
    for that window arriving afterwards is late."""
    app = make_app("quiet")
    closed: list[Any] = []
    counts = app.Table("counts", default=int).tumbling(
        10.0, idle=5.0, on_window_close=lambda key, value: closed.append((key[0], value))
    )
    done: list[int] = []

    @app.agent(app.topic("events"))
    async def count(stream: Stream[str]) -> None:
        async for key in stream:
            counts[key] += 1
            done.append(1)

    loop = asyncio.get_running_loop()
    async with app:
        now = loop.time()  # the event's timestamp on the loop's clock (virtual time here)
        base = now - now % 10
        await app.topic("events").send(value="k", timestamp=base + 1)
        await until(lambda: len(done) == 1)
        assert closed == []
        await asyncio.sleep(4.0)
        assert closed == []  # quiet for 4 s only
        await until(lambda: closed == [("k", 1)], within=30)
        await app.topic("events").send(value="k", timestamp=base + 2)
        await until(lambda: len(done) == 2)
        assert counts.late == 1
