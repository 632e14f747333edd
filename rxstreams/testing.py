"""Helpers for testing apps: the runtime's state, and crashing a worker on purpose.

Tests go through these instead of reaching into an app:

- :func:`crash` makes an app die the way a killed worker process does: nothing more is
  committed, its tasks stop, and (on the embedded broker) its group membership ends at once
  so the other members take its partitions over from the last committed offsets;
- :class:`AgentTestContext` (``agent.test_context()``) runs one agent alone, as Faust's
  ``AgentTestWrapper`` does;
- :func:`wait_assigned` waits until the app's worker owns partitions and they are ready;
- :func:`in_flight`, :func:`paused`, :func:`assigned` and :func:`rebalances` read the
  worker's flow control and group membership; :func:`pending_asks` counts the
  ``ask()`` calls waiting for a reply.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .channels import Channel
from .events import Event, current_event
from .messages import Message, TopicPartition
from .topics import Topic

if TYPE_CHECKING:
    from .agents import Agent
    from .app import App

__all__ = (
    "AgentTestContext",
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


class AgentTestContext:
    """Faust's ``AgentTestWrapper``: one agent run alone, on a private embedded broker.

    Made by :meth:`rxstreams.Agent.test_context`::

        async with orders_agent.test_context() as agent:
            event = await agent.put(Order(id=1, amount=5))
            assert agent.results[event.message.offset] == "ok"

    The agent's function runs over a topic (or channel) of the same name, key and value
    types on a broker of its own, with the agent's concurrency and error policy; its sinks
    are not used: what it yields goes to :attr:`results`, keyed by the offset of the event
    it was processing.
    """

    def __init__(self, agent: Agent[Any]) -> None:
        from .app import App

        original = agent.app
        conf = original.conf
        self.app = App(
            f"{original.id}-test-context",
            broker=f"memory://test-context-{uuid.uuid4().hex}",
            topic_partitions=1,
            commit_interval=conf.commit_interval,
            redelivery_limit=conf.redelivery_limit,
            on_decode_error=conf.on_decode_error,
            key_serializer=conf.key_serializer,
            value_serializer=conf.value_serializer,
        )
        channel = agent.channel
        if isinstance(channel, Topic):
            self.channel: Topic[Any, Any] | Channel[Any, Any] = self.app.topic(
                channel.name,
                key_type=channel.key_type,
                value_type=channel.value_type,
                key_serializer=channel.key_codec,
                value_serializer=channel.value_codec,
            )
        else:
            self.channel = self.app.channel(name=getattr(channel, "name", None))
        #: what the agent yielded, by the offset of the event it was processing
        self.results: dict[int, Any] = {}
        self.agent: Agent[Any] = self.app.agent(
            self.channel,
            name=agent.name,
            concurrency=agent.concurrency,
            sink=[self._record],
            on_error=agent.on_error,
            supervisor_strategy=agent.supervisor_strategy,
        )(agent.fun)
        self._sent = 0

    def _record(self, value: Any) -> None:
        event = current_event()
        message = event.message
        self.results[message.offset if message is not None else len(self.results)] = value

    async def __aenter__(self) -> AgentTestContext:
        await self.app.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.app.stop()

    async def put(
        self,
        value: Any = None,
        key: Any = None,
        *,
        headers: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> Event[Any, Any]:
        """Send ``value`` to the agent; with ``wait``, return once the agent is done with it.

        Returns:
            The event sent (its ``message.offset`` is the key of its :attr:`results`).

        Raises:
            AgentError: the agent failed on it and its error policy stopped the app.
        """
        channel = self.channel
        if isinstance(channel, Topic):
            sent = await channel.send(key=key, value=value, headers=headers, timestamp=timestamp)
            metadata = await sent
            offset, partition, ts = metadata.offset, metadata.partition, metadata.timestamp
        else:
            await channel.send(key=key, value=value, headers=headers, timestamp=timestamp)
            offset, partition, ts = self._sent, 0, int((timestamp or time.time()) * 1000)
        self._sent += 1
        message = Message(channel.name, partition, offset, ts, None, None, ())
        event: Event[Any, Any] = Event(key=key, value=value, headers=headers, message=message)
        if wait:
            await self._processed(TopicPartition(channel.name, partition), offset, timeout)
        return event

    async def _processed(self, tp: TopicPartition, offset: int, timeout: float) -> None:
        """Wait until the agent is done with the record at ``offset`` (its offset is
        committable; on a channel: nothing is in flight)."""
        worker = self.app.worker
        on_topic = isinstance(self.channel, Topic)
        async with asyncio.timeout(timeout):
            while True:
                if worker.error is not None:
                    raise worker.error
                if on_topic:
                    po = worker.offsets.get(tp)
                    done = po is not None and (po.committable or 0) > offset
                else:
                    done = worker.in_flight() == 0
                if done:
                    return
                await asyncio.sleep(0.001)

    async def ask(self, value: Any = None, **kwargs: Any) -> Any:
        """:meth:`Agent.ask` of the agent under test."""
        return await self.agent.ask(value, **kwargs)
