"""Helpers for testing apps: the runtime's state, and crashing a worker on purpose.

Tests go through these instead of reaching into an app:

- :func:`crash` makes an app die the way a killed worker process does: nothing more is
  committed, its tasks stop, and (on the embedded broker) its group membership ends at once
  so the other members take its partitions over from the last committed offsets;
- :func:`wait_assigned` waits until the app's worker owns partitions and they are ready;
- :func:`in_flight`, :func:`paused`, :func:`assigned` and :func:`rebalances` read the
  worker's flow control and group membership; :func:`pending_asks` counts the
  ``ask()`` calls waiting for a reply.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .messages import TopicPartition

if TYPE_CHECKING:
    from .app import App

__all__ = (
    "assigned",
    "crash",
    "in_flight",
    "paused",
    "pending_asks",
    "rebalances",
    "wait_assigned",
)


async def crash(app: App) -> None:
    """Kill ``app`` without a graceful stop: no drain, no commit, no leaving the group."""
    await app.worker.kill()


async def wait_assigned(app: App, timeout: float | None = 30.0) -> None:
    """Wait until ``app`` owns partitions and they are ready for delivery."""
    async with asyncio.timeout(timeout):
        await app.worker.assignment.assigned.wait()


def assigned(app: App) -> frozenset[TopicPartition]:
    """The partitions ``app``'s worker tracks now."""
    return frozenset(app.worker.offsets)


def in_flight(app: App, topic: str | None = None) -> int:
    """Events delivered to ``app``'s streams and not acked yet (of one topic or channel
    name, or all)."""
    worker = app.worker
    if topic is None:
        return worker.in_flight()
    return sum(s.in_flight for s in worker.all_sources() if s.name == topic)


def paused(app: App, topic: str) -> bool:
    """True while fetching ``topic`` is paused because too many of its events are in flight."""
    source = app.worker.sources.get(topic)
    return source is not None and source.paused


def rebalances(app: App) -> int:
    """How many times ``app``'s worker received an assignment."""
    return app.worker.assignment.rebalances


def pending_asks(app: App) -> int:
    """How many ``ask()`` calls of ``app`` wait for their reply."""
    return app.worker.replies.pending
