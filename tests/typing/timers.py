"""User-style declarations of tasks, timers and crontabs, to be type-checked (mypy --strict):
the decorators return the function with its type unchanged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from rxstreams import App

app = App("typing-timers")


@app.task
async def on_start() -> None:
    print("started")


@app.task()
async def with_app(a: App) -> None:
    print(a.id)


@app.timer(10.0)
async def every_ten_seconds() -> None:
    print("tick")


@app.timer(timedelta(minutes=1), on_leader=True)
async def every_minute_on_the_leader(a: App) -> int:
    return len(a.agents)


@app.crontab("0 9 * * mon-fri", timezone=ZoneInfo("Europe/Paris"), on_leader=True)
async def morning() -> None:
    print("good morning")


still_a_function: Callable[[], Awaitable[None]] = on_start
keeps_its_type: Callable[[App], Awaitable[int]] = every_minute_on_the_leader
leads: bool = app.leader.is_leader
