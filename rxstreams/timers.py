"""Tasks, timers and crontabs: ``async def`` functions an app runs beside its agents.

- ``@app.task``: runs once when the worker starts (after its agents started);
- ``@app.timer(interval)``: runs every ``interval`` seconds, the first time one interval
  after the start (as in Faust);
- ``@app.crontab(cron_format, timezone=...)``: runs at the times of a cron expression
  (parsed by `croniter <https://github.com/pallets-eco/croniter>`_), in a timezone.

Each decorator records a declaration (:class:`TaskSpec`, :class:`TimerSpec`,
:class:`CrontabSpec`) in ``app.timers`` and returns the function unchanged. The app runs
``spec.run(app)`` as one of its tasks while it runs, so it stops with the app: a function
cancelled mid-run by ``stop()`` ends quietly. The function takes no argument, or the app.

With ``on_leader=True`` a timer or crontab runs on one worker of the group only (all the
workers sharing the app id): the leader, elected through the broker (see
:attr:`App.leader <rxstreams.runtime.leader.LeaderElection>`). The others skip their runs, and
when the leader leaves (stops or dies) another worker takes over.

Errors: a function that raises stops the app, as an agent error does: the error is
logged (``task_failed``) and the app stops with :class:`~rxstreams.errors.TaskError`,
whose ``__cause__`` is the function's exception.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from .errors import ConfigurationError, TaskError
from .logging import get_logger

if TYPE_CHECKING:
    from .app import App

__all__ = ("CrontabSpec", "TaskFun", "TaskSpec", "TimerSpec", "WallClock", "loop_clock")

log = get_logger(__name__)

#: an ``async def`` taking no argument, or the app
TaskFun = TypeVar("TaskFun", bound=Callable[..., Awaitable[Any]])

#: the wall clock a crontab reads: seconds since the epoch, like :func:`time.time`
WallClock = Callable[[], float]

#: a crontab sleeping longer than this looks at the wall clock again when it wakes, so a
#: clock that was set (NTP) or a machine that was suspended delays a run by this at most
_MAX_SLEEP = 60.0
#: a crontab woken a hair before its time (clocks differ in resolution) sleeps this more:
#: it never runs early, so a job at midnight reading the date sees the new day
_MIN_SLEEP = 0.001


class TaskSpec:
    """``@app.task``: run ``fun`` once when the worker starts.

    Args:
        fun: an ``async def`` taking no argument, or the app.
        name: the name in logs and task names (default: module and qualified name).

    Raises:
        ConfigurationError: ``fun`` is not an ``async def``, or takes other arguments.
    """

    kind = "task"
    on_leader = False

    def __init__(self, fun: Callable[..., Awaitable[Any]], *, name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(fun):
            raise ConfigurationError(
                f"@app.{self.kind} needs an async def, not {fun!r}: write `async def ...`"
            )
        self.fun = fun
        self.name = name or f"{fun.__module__}.{fun.__qualname__}"
        self.takes_app = _takes_app(fun, self.kind)

    @property
    def task_name(self) -> str:
        """The name of the asyncio task that runs it (``<kind>:<name>``)."""
        return f"{self.kind}:{self.name}"

    async def run(self, app: App) -> None:
        """Run the function once."""
        await self._call(app)

    async def _call(self, app: App) -> None:
        """One run of the function; its exception becomes a TaskError that stops the app."""
        try:
            if self.takes_app:
                await self.fun(app)
            else:
                await self.fun()
        except Exception as exc:
            log.error("task_failed", kind=self.kind, name=self.name, error=repr(exc))
            raise TaskError(
                f"{self.kind} {self.name} raised {exc!r}; the app stops (handle the "
                "exception inside the function to keep the app running)"
            ) from exc

    def _may_run(self, app: App) -> bool:
        """False when the function runs on the leader only and this worker is not it."""
        if self.on_leader and not app.leader.is_leader:
            log.debug("task_skipped", kind=self.kind, name=self.name, reason="not_leader")
            return False
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class TimerSpec(TaskSpec):
    """``@app.timer(interval)``: run ``fun`` every ``interval`` seconds.

    The first run is one interval after the worker started, as in Faust. Runs are on a
    fixed grid (start + n * interval, on the event loop's monotonic clock), so they do not
    drift. A run that takes longer than the interval does not pile runs up: the ticks it
    covered are skipped (``timer_overran`` is logged) and the next run is at the next tick.

    Args:
        fun: an ``async def`` taking no argument, or the app.
        interval: seconds between runs (a number or a ``timedelta``), more than 0.
        on_leader: run on the group's leader only (the other workers skip their runs).
        name: the name in logs and task names (default: module and qualified name).

    Raises:
        ConfigurationError: the interval is not a positive number of seconds, or ``fun``
            is not an ``async def`` taking no argument or the app.
    """

    kind = "timer"

    def __init__(
        self,
        fun: Callable[..., Awaitable[Any]],
        interval: float | timedelta,
        *,
        on_leader: bool = False,
        name: str | None = None,
    ) -> None:
        self.interval = _seconds(interval)
        self.on_leader = _flag("on_leader", on_leader)
        super().__init__(fun, name=name)

    async def run(self, app: App) -> None:
        """Run the function on each tick until cancelled."""
        if self.on_leader:
            await app.leader.start()
        loop = asyncio.get_running_loop()
        interval = self.interval
        start = loop.time()
        tick = 1
        while True:
            await asyncio.sleep(max(0.0, start + tick * interval - loop.time()))
            ran = self._may_run(app)
            if ran:
                await self._call(app)
            # the next tick at or after now: ticks a long run covered are not made up for
            due = max(tick + 1, math.ceil((loop.time() - start) / interval - 1e-9))
            if ran and due > tick + 1:
                log.warning(
                    "timer_overran", name=self.name, interval=interval, skipped=due - tick - 1
                )
            tick = due

    def __repr__(self) -> str:
        leader = " on_leader" if self.on_leader else ""
        return f"<TimerSpec {self.name} every {self.interval}s{leader}>"


class CrontabSpec(TaskSpec):
    """``@app.crontab(cron_format)``: run ``fun`` at the times of a cron expression.

    The times are computed by croniter in ``timezone``, across daylight-saving changes as
    croniter computes them: a time that does not exist on the day clocks go forward runs at
    the first time that does (``30 2 * * *`` runs at 03:00 that day), and a time that
    happens twice on the day they go back runs twice (``30 2 * * *`` at 02:30 summer time
    and at 02:30 winter time). A run that lasts past the next time skips it.

    Args:
        fun: an ``async def`` taking no argument, or the app.
        cron_format: a cron expression: 5 fields, or croniter's 6 (seconds last).
        timezone: a ``tzinfo`` (``zoneinfo.ZoneInfo``, ``datetime.timezone``) or an IANA
            name such as ``"Europe/Paris"``; default UTC (Faust's default ``timezone``).
        on_leader: run on the group's leader only (the other workers skip their runs).
        name: the name in logs and task names (default: module and qualified name).
        clock: the wall clock, seconds since the epoch (default :func:`time.time`); tests
            pass :func:`loop_clock` to run a crontab in virtual time.

    Raises:
        ConfigurationError: the expression, the timezone or ``fun`` is not valid.
    """

    kind = "crontab"

    def __init__(
        self,
        fun: Callable[..., Awaitable[Any]],
        cron_format: str,
        *,
        timezone: tzinfo | str | None = None,
        on_leader: bool = False,
        name: str | None = None,
        clock: WallClock | None = None,
    ) -> None:
        self.cron_format = cron_format
        self.timezone = _timezone(timezone)
        self.on_leader = _flag("on_leader", on_leader)
        if clock is not None and not callable(clock):
            raise ConfigurationError(f"clock must be a function returning seconds, not {clock!r}")
        self.clock: WallClock = time.time if clock is None else clock
        super().__init__(fun, name=name)
        if not isinstance(cron_format, str):
            raise ConfigurationError(
                f"crontab {self.name}: the cron expression must be a string, not {cron_format!r}"
            )
        try:  # parses the expression, and proves it has a next time
            self.next_time(time.time())
        except (CroniterError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ConfigurationError(
                f"crontab {self.name}: {cron_format!r} is not a valid cron expression ({exc})"
            ) from exc

    def next_time(self, after: float) -> float:
        """The first time of the expression after ``after`` (both seconds since the epoch)."""
        start = datetime.fromtimestamp(after, self.timezone)
        return float(croniter(self.cron_format, start).get_next(float))

    async def run(self, app: App) -> None:
        """Sleep until each time of the expression and run the function, until cancelled."""
        if self.on_leader:
            await app.leader.start()
        clock = self.clock
        last: float | None = None
        while True:
            now = clock()
            try:  # after the last run's time, even if the wall clock was set back since
                due = self.next_time(now if last is None else max(now, last))
            except CroniterError as exc:
                log.warning("crontab_finished", name=self.name, reason=str(exc))
                return
            # the wall clock, not an event, says when: look at it again after each sleep
            while (delay := due - clock()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(min(max(delay, _MIN_SLEEP), _MAX_SLEEP))
            last = due
            if self._may_run(app):
                await self._call(app)

    def __repr__(self) -> str:
        leader = " on_leader" if self.on_leader else ""
        return f"<CrontabSpec {self.name} {self.cron_format!r} {self.timezone}{leader}>"


def loop_clock(start: datetime) -> WallClock:
    """A wall clock that reads ``start`` when first called, then advances with the running
    event loop's clock: in virtual time (looptime) a crontab then sees days pass at once.

    Args:
        start: a timezone-aware datetime.

    Returns:
        A function returning seconds since the epoch, for ``@app.crontab(..., clock=...)``.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ConfigurationError(
            f"loop_clock needs a timezone-aware datetime, not {start!r}: "
            "give it tzinfo=ZoneInfo(...) or timezone.utc"
        )
    epoch = start.timestamp()
    origin: list[float] = []

    def now() -> float:
        loop_time = asyncio.get_running_loop().time()
        if not origin:
            origin.append(loop_time)
        return epoch + (loop_time - origin[0])

    return now


def _takes_app(fun: Callable[..., Any], kind: str) -> bool:
    """True if ``fun`` is called with the app, False if with nothing."""
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):  # no signature to read: call it as Faust does, bare
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    for args in ((object(),), ()) if positional else ((),):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return bool(args)
    raise ConfigurationError(
        f"@app.{kind} function {fun.__qualname__}{signature} must take no argument, or one: the app"
    )


def _seconds(interval: float | timedelta) -> float:
    if isinstance(interval, timedelta):
        seconds = interval.total_seconds()
    elif isinstance(interval, int | float) and not isinstance(interval, bool):
        seconds = float(interval)
    else:
        raise ConfigurationError(
            f"a timer interval is a number of seconds or a timedelta, not {interval!r}"
        )
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigurationError(f"a timer interval must be more than 0 seconds, not {interval!r}")
    return seconds


def _flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _timezone(value: tzinfo | str | None) -> tzinfo:
    if value is None:
        return UTC
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"unknown timezone {value!r}: give an IANA name such as 'Europe/Paris', or a tzinfo"
            ) from exc
    raise ConfigurationError(f"timezone must be a tzinfo or an IANA name, not {value!r}")
