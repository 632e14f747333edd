"""The co-partitioning check at start: an agent and the tables it uses share a count.

A table partition holds the updates of the topic partition with its number, so an agent
may only write (or read) a table from a topic with the table's partition count. Kafka
Streams checks this when it builds its topology; here, at start, each agent's function
is looked at for the tables it names (its globals and the variables it closes over), and
a table whose count differs from the agent's topic is a ConfigurationError naming both.
(The first write from such a topic is refused as well, for tables reached otherwise.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .table import Table

if TYPE_CHECKING:
    from ..app import App

__all__ = ("check_copartitioned", "tables_used_by")


def tables_used_by(fun: Any) -> Iterator[Table[Any, Any]]:
    """The tables ``fun`` names: globals it reads and variables it closes over."""
    code = getattr(fun, "__code__", None)
    if code is None:
        return
    seen: set[int] = set()
    names = getattr(fun, "__globals__", {})
    candidates = [names.get(name) for name in code.co_names]
    for cell in getattr(fun, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for value in candidates:
        # a global table holds every partition: any topic may read it
        if isinstance(value, Table) and id(value) not in seen and value.kind != "GlobalTable":
            seen.add(id(value))
            yield value


def check_copartitioned(app: App) -> None:
    """Raise ConfigurationError for an agent using a table with another partition count
    than its topic's."""
    for agent in app.agents.values():
        channel = agent.channel
        spec = getattr(channel, "spec", None)
        if spec is None or getattr(channel, "app", None) is not app:
            continue  # a channel or a stream: no partitions to match
        count = spec().partitions
        for table in tables_used_by(agent.fun):
            if table.app is app and table.partitions != count:
                raise ConfigurationError(
                    f"agent {agent.name} reads topic {channel.name!r}, which has {count} "
                    f"partitions, and uses table {table.name!r}, which has "
                    f"{table.partitions}: a table partition holds the updates of the topic "
                    "partition with its number, so both need the same count. Declare the "
                    f"table with partitions={count}, or group_by() the stream through a "
                    "topic with the table's count first"
                )
