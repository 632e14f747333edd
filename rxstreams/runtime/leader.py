"""Leader election: one worker of an app's group is the leader, for ``on_leader`` timers.

The workers sharing an app id join one more consumer group, ``<app id>-__leader``, over
a topic of one partition, ``<app id>-__leader``, that nobody writes to: the broker's
group protocol gives that partition to exactly one member, and that member leads. When
it leaves (a graceful stop sends LeaveGroup; a dead process misses its session timeout)
the group rebalances and the partition, so the leadership, moves to another worker.

The election runs a consumer of its own, apart from the app's main consumer, and starts
only when an ``on_leader`` timer or crontab runs. Its loop calls ``getmany`` (the memory
broker runs rebalances inside it; aiokafka runs them in the background) and reads the
assignment after each call, as a check on what the listener was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

from ..logging import get_logger
from ..messages import TopicPartition, TopicSpec
from ..types import ConsumerT

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ("LeaderElection",)

log = get_logger(__name__)

#: how long one getmany of the (empty) election topic waits
_POLL = 1.0
#: the longest pause between two attempts after getmany failed
_MAX_BACKOFF = 5.0


class LeaderElection:
    """Whether this worker leads its group (``app.leader``).

    ``is_leader`` is False until :meth:`start` ran and the group gave this worker the
    election partition; :meth:`wait_until_leader` waits for that.
    """

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._app = app = worker.app
        self.topic_name = f"{app.id}-__leader"
        self._partition = TopicPartition(self.topic_name, 0)
        self._consumer: ConsumerT | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._leader = asyncio.Event()
        self._closed = False

    @property
    def is_leader(self) -> bool:
        """True while this worker is the leader of its group."""
        return self._leader.is_set()

    async def wait_until_leader(self) -> None:
        """Return once this worker is the leader (at once if it is)."""
        await self._leader.wait()

    async def start(self) -> None:
        """Declare the election topic and join the election group (once; later calls and
        calls after :meth:`stop` do nothing)."""
        async with self._lock:
            if self._consumer is not None or self._closed:
                return
            app, worker = self._app, self._worker
            await worker.producing.declare([TopicSpec(self.topic_name, 1, internal=True)])
            config = dataclasses.replace(  # the app's group settings (session timeout, ...)
                app.conf.consumer_config(),
                group_id=self.topic_name,
                client_id=f"{app.id}-leader",
                auto_offset_reset="latest",
                max_poll_records=1,
            )
            consumer = worker.create_consumer([self.topic_name], self, config)
            self._consumer = consumer
            await consumer.start()
            self._task = worker.spawn(self._run(consumer), "leader")
            log.debug("leader_election_started", app=app.id, group=self.topic_name)

    async def stop(self) -> None:
        """Leave the election group: another worker takes the leadership over."""
        self._closed = True
        async with self._lock:  # a start() under way finishes first
            await self._cancel()
            consumer, self._consumer = self._consumer, None
            self._lose("stopped")
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def crash(self) -> None:
        """Die with the process (:func:`rxstreams.testing.crash`): no LeaveGroup (the worker
        crashes the consumer with its others); on the memory broker the membership ends at
        once, on Kafka at its session timeout."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._consumer = None
        self._lose("crashed")

    # -- the consumer's listener ----------------------------------------------------------

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        self._lose("revoked")

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        if self._partition in assigned:
            self._win()

    # -- internals ------------------------------------------------------------------------

    async def _run(self, consumer: ConsumerT) -> None:
        backoff = 0.1
        while True:
            try:
                await consumer.getmany(timeout=_POLL, max_records=1)
            except Exception as exc:  # the broker went away: the listener says if we lost
                log.warning("leader_election_retrying", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 0.1
            if self._partition in consumer.assignment():
                self._win()
            else:
                self._lose("unassigned")

    async def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _win(self) -> None:
        if not self._leader.is_set():
            self._leader.set()
            log.info("leader_elected", app=self._app.id)

    def _lose(self, reason: str) -> None:
        if self._leader.is_set():
            self._leader.clear()
            log.info("leadership_lost", app=self._app.id, reason=reason)
