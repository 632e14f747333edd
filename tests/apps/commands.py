"""An app with its own commands and hooks, run with ``app.main()`` (for the CLI's tests).

``python tests/apps/commands.py greet alice --times 2`` or
``rxstreams -A tests.apps.commands:app greet alice --times 2``.
"""

from __future__ import annotations

from typing import Any

from rxstreams import App, Stream, argument, option
from rxstreams.commands import CommandContext
from rxstreams.logging import get_logger

app = App("commands", broker="memory://commands")
log = get_logger(__name__)


@app.agent(app.topic("names", partitions=1))
async def shout(stream: Stream[Any]) -> Any:
    """Yield each name in capitals."""
    async for name in stream:
        yield str(name).upper()


@app.command(
    argument("name", help="who to greet"),
    option("--times", "-n", type=int, default=1, help="how many greetings"),
    option("--loud", is_flag=True, help="in capitals"),
)
async def greet(name: str, times: int, loud: bool) -> None:
    """Greet NAME, asking the shout agent when --loud."""
    if loud:
        async with app:
            name = await shout.ask(name, timeout=10)
    for _ in range(times):
        print(f"hello {name}")


@app.command(option("--prefix", help="put before each name"))
def names(self: CommandContext, prefix: str | None) -> None:
    """List the agents (a plain, Faust-style command taking self)."""
    for agent in self.app.agents.values():
        self.say(f"{prefix or ''}{agent.name.rsplit('.', 1)[-1]}")


@app.on_started
async def announce() -> None:
    log.warning("hook_started")


@app.on_stopped
async def goodbye() -> None:
    log.warning("hook_stopped")


if __name__ == "__main__":
    app.main()
