"""Tasks, timers and crontabs (rxstreams/timers.py) and the leader election of on_leader
ones (rxstreams/_leader.py): in virtual time on the embedded broker, and on Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from rxstreams import App, ConfigurationError, Stream, TaskError
from rxstreams.testing import crash
from rxstreams.timers import WallClock, loop_clock
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory

pytestmark = pytest.mark.looptime

BERLIN = ZoneInfo("Europe/Berlin")


def since_start(loop_times: list[float], start: float) -> list[float]:
    """Loop times relative to ``start``, rounded to 10 ms (a crontab may run 1 ms late)."""
    return [round(t - start, 2) for t in loop_times]


async def run_for(app: App, seconds: float) -> float:
    """Run ``app`` for ``seconds`` of loop time; return the loop time it started at."""
    loop = asyncio.get_running_loop()
    async with app:
        start = loop.time()
        await asyncio.sleep(seconds)
    return start


# -- tasks ----------------------------------------------------------------------------------


async def test_a_task_runs_once_after_the_agents_started(make_app: AppFactory) -> None:
    """@app.task runs once, when the worker starts, with its agents already running."""
    app = make_app("task")
    runs: list[bool] = []

    @app.agent(app.topic("t"))
    async def worker(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    @app.task
    async def hello() -> None:
        runs.append(worker.running)

    await run_for(app, 30)
    assert runs == [True]


async def test_a_task_may_take_the_app_and_the_decorator_parentheses(
    make_app: AppFactory,
) -> None:
    """@app.task() works too, and a function with one parameter gets the app."""
    app = make_app("task-app")
    got: list[App] = []

    @app.task()
    async def with_app(a: App) -> None:
        got.append(a)

    assert with_app.__name__ == "with_app"  # the decorator returns the function
    assert [spec.name for spec in app.timers] == [f"{__name__}.{with_app.__qualname__}"]
    await run_for(app, 1)
    assert got == [app]


async def test_a_task_declared_while_the_app_runs_starts_at_once(make_app: AppFactory) -> None:
    """A task declared after start (a later notebook cell) runs right away."""
    app = make_app("task-late")
    runs = 0
    async with app:

        @app.task
        async def late() -> None:
            nonlocal runs
            runs += 1

        await asyncio.sleep(1)
    assert runs == 1


async def test_stopping_the_app_cancels_a_running_task_quietly(make_app: AppFactory) -> None:
    """A task still running at stop() is cancelled: no error, no failure logged."""
    app = make_app("task-stop")
    cancelled = False

    @app.task
    async def forever() -> None:
        nonlocal cancelled
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise

    with capture_logs() as logs:
        await run_for(app, 10)
    assert cancelled
    assert app.state == "stopped"
    assert not [e for e in logs if e["event"] in ("task_failed", "app_crashed")]


# -- timers ---------------------------------------------------------------------------------


async def test_a_timer_runs_every_interval_from_one_interval_after_the_start(
    make_app: AppFactory,
) -> None:
    """A 1 s timer runs at 1, 2, 3, 4, 5 s in 5.5 s, and not after the app stopped."""
    app = make_app("timer")
    loop = asyncio.get_running_loop()
    times: list[float] = []

    @app.timer(1.0)
    async def tick() -> None:
        times.append(loop.time())

    start = await run_for(app, 5.5)
    assert since_start(times, start) == [1.0, 2.0, 3.0, 4.0, 5.0]
    await asyncio.sleep(10)
    assert len(times) == 5


async def test_a_timer_interval_may_be_a_timedelta(make_app: AppFactory) -> None:
    """timedelta(minutes=1) is a 60 s interval; the function may take the app."""
    app = make_app("timer-td")
    loop = asyncio.get_running_loop()
    times: list[float] = []

    @app.timer(timedelta(minutes=1))
    async def tick(a: App) -> None:
        assert a is app
        times.append(loop.time())

    start = await run_for(app, 150)
    assert since_start(times, start) == [60.0, 120.0]


async def test_a_run_that_overruns_skips_ticks_instead_of_piling_up(
    make_app: AppFactory,
) -> None:
    """A run of 2.5 intervals: the ticks it covered are skipped, the next run is on the grid."""
    app = make_app("timer-overrun")
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    @app.timer(1.0)
    async def slow() -> None:
        starts.append(loop.time())
        if len(starts) == 1:
            await asyncio.sleep(2.5)

    with capture_logs() as logs:
        start = await run_for(app, 6.5)
    assert since_start(starts, start) == [1.0, 4.0, 5.0, 6.0]
    overran = [e for e in logs if e["event"] == "timer_overran"]
    assert [(e["name"], e["skipped"]) for e in overran] == [(f"{__name__}.{slow.__qualname__}", 2)]


async def test_a_run_that_lasts_one_interval_is_followed_at_once(make_app: AppFactory) -> None:
    """A run ending exactly on the next tick: the next run starts then, nothing skipped."""
    app = make_app("timer-exact")
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    @app.timer(2.0)
    async def busy() -> None:
        starts.append(loop.time())
        await asyncio.sleep(2.0)

    start = await run_for(app, 7)
    assert since_start(starts, start) == [2.0, 4.0, 6.0]


# -- crontabs -------------------------------------------------------------------------------


def recorder(
    clock: WallClock, tz: tzinfo, fired: list[tuple[float, datetime]]
) -> Callable[[], Any]:
    """A crontab function recording (loop time, wall time in ``tz``) at each run."""

    async def fire() -> None:
        fired.append((asyncio.get_running_loop().time(), datetime.fromtimestamp(clock(), tz)))

    return fire


async def test_a_crontab_runs_at_the_times_of_its_expression(make_app: AppFactory) -> None:
    """*/15 from 09:07 UTC runs at 09:15, 09:30, 09:45 and 10:00, each at that loop time."""
    app = make_app("cron")
    clock = loop_clock(datetime(2024, 5, 6, 9, 7, tzinfo=UTC))
    fired: list[tuple[float, datetime]] = []
    app.crontab("*/15 * * * *", clock=clock)(recorder(clock, UTC, fired))

    start = await run_for(app, 3600)
    assert [w.strftime("%H:%M:%S") for _, w in fired] == [
        "09:15:00",
        "09:30:00",
        "09:45:00",
        "10:00:00",
    ]
    assert since_start([t for t, _ in fired], start) == [480.0, 1380.0, 2280.0, 3180.0]


async def test_a_crontab_runs_in_its_timezone_given_by_name(make_app: AppFactory) -> None:
    """9:00 in America/New_York is 14:00 UTC in winter; the default timezone is UTC."""
    app = make_app("cron-tz")
    clock = loop_clock(datetime(2024, 1, 15, 12, 0, tzinfo=UTC))
    new_york: list[tuple[float, datetime]] = []
    utc: list[tuple[float, datetime]] = []
    app.crontab("0 9 * * *", timezone="America/New_York", clock=clock)(
        recorder(clock, UTC, new_york)
    )
    app.crontab("0 9 * * *", clock=clock)(recorder(clock, UTC, utc))

    await run_for(app, 86400)
    assert [w.isoformat() for _, w in new_york] == ["2024-01-15T14:00:00+00:00"]
    assert [w.isoformat() for _, w in utc] == ["2024-01-16T09:00:00+00:00"]


async def test_an_hourly_crontab_runs_every_real_hour_when_clocks_go_back(
    make_app: AppFactory,
) -> None:
    """Berlin, 27 Oct 2024: 02:00 happens twice; hourly runs stay one real hour apart."""
    app = make_app("cron-dst-back")
    clock = loop_clock(datetime(2024, 10, 27, 0, 30, tzinfo=BERLIN))
    fired: list[tuple[float, datetime]] = []
    app.crontab("0 * * * *", timezone=BERLIN, clock=clock)(recorder(clock, BERLIN, fired))

    start = await run_for(app, 4 * 3600)
    assert [w.isoformat() for _, w in fired] == [
        "2024-10-27T01:00:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]
    assert since_start([t for t, _ in fired], start) == [1800.0, 5400.0, 9000.0, 12600.0]


async def test_a_daily_crontab_in_the_skipped_hour_runs_when_clocks_go_forward(
    make_app: AppFactory,
) -> None:
    """Berlin, 31 Mar 2024: 02:30 does not exist; it runs at 03:00, the next day at 02:30."""
    app = make_app("cron-dst-forward")
    clock = loop_clock(datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN))
    fired: list[tuple[float, datetime]] = []
    app.crontab("30 2 * * *", timezone=BERLIN, clock=clock)(recorder(clock, BERLIN, fired))

    start = await run_for(app, 2 * 86400)
    assert [w.isoformat() for _, w in fired] == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]
    # 12:00 CET to 03:00 CEST is 14 real hours; then 23.5 hours to 02:30
    assert since_start([t for t, _ in fired], start) == [14 * 3600.0, 14 * 3600.0 + 84600.0]


async def test_a_crontab_run_lasting_past_the_next_time_skips_it(make_app: AppFactory) -> None:
    """A minutely crontab whose first run takes 90 s runs next at the minute after it ends."""
    app = make_app("cron-overrun")
    clock = loop_clock(datetime(2024, 5, 6, 9, 0, 30, tzinfo=UTC))
    fired: list[str] = []

    @app.crontab("* * * * *", clock=clock)
    async def slow() -> None:
        fired.append(datetime.fromtimestamp(clock(), UTC).strftime("%H:%M:%S"))
        if len(fired) == 1:
            await asyncio.sleep(90)

    await run_for(app, 240)
    assert fired == ["09:01:00", "09:03:00", "09:04:00"]


async def test_a_crontab_follows_a_wall_clock_that_jumps(make_app: AppFactory) -> None:
    """The wall clock set forward an hour while sleeping: the run happens within a minute."""
    app = make_app("cron-jump")
    loop = asyncio.get_running_loop()
    offset = 0.0
    base = loop_clock(datetime(2024, 5, 6, 8, 0, tzinfo=UTC))

    def clock() -> float:
        return base() + offset

    fired: list[tuple[float, datetime]] = []
    app.crontab("0 9 * * *", clock=clock)(recorder(clock, UTC, fired))
    async with app:
        start = loop.time()
        await asyncio.sleep(600)
        offset = 3600.0  # 08:10 becomes 09:10: 09:00 has passed
        await asyncio.sleep(120)
    assert [w.strftime("%H:%M") for _, w in fired] == ["09:10"]
    assert 600 <= fired[0][0] - start <= 660


async def test_a_crontab_never_runs_before_its_time(make_app: AppFactory) -> None:
    """A wall clock a little slower than the loop's: the run waits until it says 10:00."""
    app = make_app("cron-early")
    loop = asyncio.get_running_loop()
    base = loop_clock(datetime(2024, 5, 6, 9, 0, tzinfo=UTC))
    origin = loop.time()

    def slow_clock() -> float:
        return base() - (loop.time() - origin) * 1e-9

    fired: list[tuple[float, datetime]] = []
    app.crontab("0 10 * * *", clock=slow_clock)(recorder(slow_clock, UTC, fired))
    await run_for(app, 3700)
    (only,) = fired
    assert only[1] >= datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    assert only[1] - datetime(2024, 5, 6, 10, 0, tzinfo=UTC) < timedelta(milliseconds=2)


# -- declaring ------------------------------------------------------------------------------


async def _noop() -> None:
    pass


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda app: app.timer(0)(_noop), "more than 0"),
        (lambda app: app.timer(-1.0)(_noop), "more than 0"),
        (lambda app: app.timer(float("inf"))(_noop), "more than 0"),
        (lambda app: app.timer("10s")(_noop), "number of seconds"),
        (lambda app: app.timer(True)(_noop), "number of seconds"),
        (lambda app: app.timer(1.0, on_leader=1)(_noop), "on_leader"),
        (lambda app: app.crontab("61 * * * *")(_noop), "not a valid cron expression"),
        (lambda app: app.crontab("every day")(_noop), "not a valid cron expression"),
        (lambda app: app.crontab("0 0 30 2 *")(_noop), "not a valid cron expression"),
        (lambda app: app.crontab(5)(_noop), "must be a string"),
        (lambda app: app.crontab("* * * * *", timezone="Mars/Olympus")(_noop), "timezone"),
        (lambda app: app.crontab("* * * * *", timezone=2)(_noop), "timezone"),
        (lambda app: app.task(lambda: None), "async def"),
        (lambda app: app.timer(1)(print), "async def"),
    ],
    ids=[
        "zero",
        "negative",
        "infinite",
        "string",
        "bool",
        "on_leader",
        "out-of-range",
        "words",
        "never",
        "not-a-string",
        "unknown-tz",
        "tz-number",
        "sync-task",
        "builtin",
    ],
)
def test_invalid_declarations_are_configuration_errors(
    declare: Callable[[App], Any], message: str
) -> None:
    """A bad interval, expression, timezone or function fails when it is declared."""
    app = App("bad")
    with pytest.raises(ConfigurationError, match=message):
        declare(app)
    assert app.timers == []


def test_a_function_taking_other_arguments_is_refused() -> None:
    """Only no argument, or the app, can be passed."""
    app = App("bad-args")

    async def two(a: Any, b: Any) -> None:
        pass

    with pytest.raises(ConfigurationError, match="no argument, or one: the app"):
        app.timer(1)(two)


def test_loop_clock_needs_an_aware_datetime() -> None:
    """A naive start has no defined instant: refused."""
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        loop_clock(datetime(2024, 1, 1))


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["task", "timer", "crontab"])
async def test_a_function_that_raises_stops_the_app_with_task_error(
    make_app: AppFactory, kind: str
) -> None:
    """The error is logged and the app stops with TaskError, caused by the exception."""
    app = make_app(f"fail-{kind}")
    decorate: dict[str, Callable[[Any], Any]] = {
        "task": app.task,
        "timer": app.timer(1.0),
        "crontab": app.crontab("* * * * *", clock=loop_clock(datetime(2024, 1, 1, tzinfo=UTC))),
    }

    async def broken() -> None:
        raise KeyError("missing")

    decorate[kind](broken)
    with capture_logs() as logs, pytest.raises(TaskError) as info:
        await app.run(timeout=600)
    assert isinstance(info.value.__cause__, KeyError)
    assert f"{kind} {__name__}." in str(info.value)
    failed = [e for e in logs if e["event"] == "task_failed"]
    assert [(e["kind"], e["error"], e["log_level"]) for e in failed] == [
        (kind, "KeyError('missing')", "error")
    ]
    assert app.state == "stopped"


# -- on_leader: one worker of the group -----------------------------------------------------


def count_runs(app: App, label: str, runs: dict[str, int], *, crontab: bool = False) -> None:
    """Declare an on_leader 1 s timer (or minutely crontab) counting runs under ``label``."""

    async def on_leader_only() -> None:
        runs[label] = runs.get(label, 0) + 1

    if crontab:
        clock = loop_clock(datetime(2024, 1, 1, tzinfo=UTC))
        app.crontab("* * * * *", on_leader=True, clock=clock)(on_leader_only)
    else:
        app.timer(1.0, on_leader=True)(on_leader_only)


async def test_without_on_leader_functions_there_is_no_election(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Plain timers run on every worker; no election topic or group is made."""
    a, b = make_app("plain"), make_app("plain")
    runs: dict[str, int] = {}
    for app, label in ((a, "a"), (b, "b")):

        def bind(app: App, label: str) -> None:
            @app.timer(1.0)
            async def everywhere() -> None:
                runs[label] = runs.get(label, 0) + 1

        bind(app, label)
    async with a, b:
        await asyncio.sleep(3.5)
    assert runs == {"a": 3, "b": 3}
    assert "plain-__leader" not in broker.topics()
    assert not a.leader.is_leader


@pytest.mark.parametrize("crontab", [False, True], ids=["timer", "crontab"])
async def test_on_leader_runs_on_exactly_one_worker(
    make_app: AppFactory, broker: MemoryBroker, crontab: bool
) -> None:
    """Two workers of one group: one leads and runs it, the other skips every run."""
    a, b = make_app("lead"), make_app("lead")
    runs: dict[str, int] = {}
    count_runs(a, "a", runs, crontab=crontab)
    count_runs(b, "b", runs, crontab=crontab)
    async with a, b:
        await asyncio.sleep(600)
        assert [a.leader.is_leader, b.leader.is_leader].count(True) == 1
    (count,) = runs.values()  # one worker ran it
    assert count >= 9
    assert broker.partition_count("lead-__leader") == 1


@pytest.mark.parametrize("how", ["crash", "stop"])
async def test_the_leadership_moves_when_the_leader_leaves(
    make_app: AppFactory, broker: MemoryBroker, how: str
) -> None:
    """The leader crashes or stops: the other worker takes over and runs the timer."""
    a, b = make_app("move"), make_app("move")
    runs: dict[str, int] = {}
    count_runs(a, "a", runs)
    count_runs(b, "b", runs)
    await a.start()
    await asyncio.wait_for(a.leader.wait_until_leader(), 10)  # alone in the group: it leads
    await b.start()
    await asyncio.sleep(5.5)
    assert runs["a"] >= 5
    assert "b" not in runs
    assert not b.leader.is_leader
    if how == "crash":
        await crash(a)
    else:
        await a.stop()
    assert not a.leader.is_leader
    ran_on_a = runs["a"]
    await asyncio.wait_for(b.leader.wait_until_leader(), 10)
    await asyncio.sleep(5.5)
    assert runs["a"] == ran_on_a
    assert runs["b"] >= 5
    await b.stop()
    assert broker.group_members("move-__leader") == []


# -- Kafka ----------------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.looptime(False)
async def test_on_leader_on_kafka_one_leader_then_the_other_takes_over(kafka_url: str) -> None:
    """Two workers on Kafka: one runs the timer; when it stops, the other does; never two."""
    app_id = f"leader-{uuid.uuid4().hex[:8]}"
    settings: dict[str, Any] = {"session_timeout": 2, "topic_partitions": 1}
    a = App(app_id, broker=kafka_url, **settings)
    b = App(app_id, broker=kafka_url, **settings)
    runs: dict[str, int] = {"a": 0, "b": 0}
    count_runs(a, "a", runs)
    count_runs(b, "b", runs)
    name = {id(a): "a", id(b): "b"}

    async def settled_leader(within: float) -> tuple[App, App]:
        """(leader, other) once one worker has led for 1.5 s; never two leaders meanwhile."""
        loop = asyncio.get_running_loop()
        deadline, since = loop.time() + within, None
        while loop.time() < deadline:
            leaders = [x for x in (a, b) if x.state == "running" and x.leader.is_leader]
            assert len(leaders) <= 1
            since = (since or loop.time()) if leaders else None
            if since is not None and loop.time() - since >= 1.5:
                return (a, b) if leaders[0] is a else (b, a)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no settled leader within {within}s")

    try:
        await a.start()
        await b.start()
        leader, other = await settled_leader(20)
        before = dict(runs)
        await asyncio.sleep(1.5)
        assert runs[name[id(leader)]] > before[name[id(leader)]]
        assert runs[name[id(other)]] == before[name[id(other)]]
        await leader.stop()
        assert (await settled_leader(20))[0] is other
        assert runs[name[id(other)]] > before[name[id(other)]]
    finally:
        await a.stop()
        await b.stop()
