"""Helpers for testing apps on the embedded broker.

:func:`crash` makes an app die the way a killed worker process does: nothing more is
committed, its tasks stop, and (on the embedded broker) its group membership ends at once
so the other members take its partitions over from the last committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import App

__all__ = ("crash",)


async def crash(app: App) -> None:
    """Kill ``app`` without a graceful stop: no drain, no commit, no leaving the group."""
    app._fetcher.close_all()
    for source in app._channel_sources.values():
        if source.local is not None:
            source.local.closed = True
    consumer = app._fetcher.consumer
    crash_member = getattr(consumer, "crash", None)
    if crash_member is not None:
        crash_member()
    app.leader.crash()  # the election of on_leader timers dies with the process too
    tasks = list(app._tasks)
    for agent in app.agents.values():
        tasks.extend(agent._tasks.values())
        agent._tasks.clear()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    app._tasks.clear()
    app._producer = None
    transport = app._transport
    if transport is not None and app._owns_transport:  # its clients die with the process
        app._transport = None
        with contextlib.suppress(Exception):
            await transport.close()
    app._state = type(app._state).STOPPED
    app._stopped.set()
