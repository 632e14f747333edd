"""Dead letters: what could not be processed, sent aside with the reason.

A record from a topic goes to its dead-letter topic as it arrived (its original key and
value bytes and its headers), plus headers saying what went wrong: ``rxs-error`` (the
exception), ``rxs-origin`` (``topic[partition]@offset``) and, when an agent failed on it,
``rxs-error-agent``. An in-process (channel) event has no bytes: its key and value are sent
as JSON instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..logging import get_logger
from ..types import MessageT
from .offsets import PartitionOffsets

if TYPE_CHECKING:
    from ..app import App
    from ..events import Event
    from .worker import Worker

__all__ = ("DeadLetters", "dead_letter_event", "dead_letter_record")

log = get_logger(__name__)


async def dead_letter_record(
    app: App, message: MessageT, exc: BaseException, topic: str, *, agent: str | None = None
) -> None:
    """Send ``message`` as it arrived, and the error, to the dead-letter ``topic``."""
    headers: dict[str, Any] = dict(message.headers)
    headers["rxs-error"] = repr(exc)
    headers["rxs-origin"] = f"{message.topic}[{message.partition}]@{message.offset}"
    if agent is not None:
        headers["rxs-error-agent"] = agent
    dlq = app.topic(topic, key_serializer="raw", value_serializer="raw")
    await dlq.send(key=message.key, value=message.value, headers=headers)
    log.warning(
        "dead_lettered",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        dead_letter_topic=topic,
        agent=agent,
        error=repr(exc),
    )


async def dead_letter_event(
    app: App, event: Event[Any, Any], exc: BaseException, topic: str, *, agent: str
) -> None:
    """Send a channel event's key and value (as JSON), and the error, to ``topic``."""
    headers = dict(event.headers)
    headers["rxs-error"] = repr(exc)
    headers["rxs-error-agent"] = agent
    await app.topic(topic).send(key=event.key, value=event.value, headers=headers)
    log.warning("dead_lettered", dead_letter_topic=topic, agent=agent, error=repr(exc))


class DeadLetters:
    """Sends a worker's undecodable records aside, in order, as tasks of the worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._last: asyncio.Task[None] | None = None

    def record(
        self, m: MessageT, offsets: PartitionOffsets, exc: Exception, topic: str | None
    ) -> None:
        """Send an undecodable record aside, then ack it (its offset stays uncommitted
        until the send is queued; the producer is flushed before every commit)."""
        previous = self._last
        app = self.worker.app

        async def send_then_ack() -> None:
            if previous is not None:  # in order: after the dead letter before it
                await asyncio.wait([previous])
            await dead_letter_record(app, m, exc, topic or f"{m.topic}-dlq")
            offsets.ack(m.offset)

        self._last = self.worker.spawn(send_then_ack(), "dead-letter", finish=True)
