"""User-style hooks and commands, to be type-checked (mypy --strict): the decorators
return the function with its type unchanged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rxstreams import App, TopicPartition, argument, option

app = App("typing-hooks")


@app.on_started
async def started() -> None:
    print("started")


@app.on_stopped
async def stopped() -> None:
    print("stopped")


@app.on_partitions_assigned.connect
async def assigned(sender: App, partitions: set[TopicPartition], **kwargs: Any) -> None:
    print(sorted(partitions))


async def finished() -> None:
    print("ready")


app.on_startup_finished = finished


@app.command(argument("name"), option("--times", type=int, default=1, help="how often"))
async def hello(name: str, times: int) -> None:
    print(name * times)


hook: Callable[[], Awaitable[None]] = started
receiver: Callable[..., Awaitable[None]] = assigned
command: Callable[[str, int], Awaitable[None]] = hello
