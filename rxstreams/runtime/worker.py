"""Worker: the runtime of an app, the one owner of its clients, partitions and tasks.

An :class:`~rxstreams.App` declares (settings, topics, channels, agents, timers); its worker
runs them. The worker owns the transport's clients (the group consumer, the producer, any
reader), the sources of the topics and channels streams read, the offsets of the assigned
partitions, the committer, the partition lifecycle and its participants, and every task, in
one :class:`~rxstreams.runtime.tasks.TaskScope`. A task that fails crashes the worker.

A worker is created on first use: a stream being created, a record being sent, or
``start()``. It stops once, in this order:

1. fetching stops (nothing new reaches the streams);
2. on a graceful stop, the agents process what already reached their streams, and the
   sends asked for (casts, dead letters) finish, for up to ``shutdown_timeout`` seconds
   (a second ``stop(drain=False)`` cuts this short);
3. the lifecycle participants' ``on_revoking`` for every partition;
4. the offsets are frozen: from here on nothing becomes committable;
5. the final commit of what was acked (the producer is flushed first);
6. the agents' instances; pending ``ask()`` calls fail with the app's error (or "app
   stopped"); the leader election leaves its group; then every other task, newest first;
7. the participants' ``on_revoked`` for every partition;
8. the consumers leave the group; the producer is flushed and closed; the transport, if
   the app created it, is closed;
9. the participants' ``on_stopped`` (``@app.on_stopped`` hooks).

Once started (and before ``start()`` returns), the participants' ``on_started`` run
(``@app.on_started`` hooks); one that fails stops the app as a failing agent does.

A crash (an agent's policy said stop, a task failed) freezes the offsets at once, so nothing
acked after the failure is committed, then stops the same way without draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..codecs import get_codec
from ..errors import AppStateError, ConfigurationError
from ..logging import get_logger
from ..messages import TopicPartition
from ..transports import transport_from_url
from ..types import (
    ConsumerConfig,
    ConsumerT,
    ReaderConfig,
    ReaderT,
    RebalanceListenerT,
    TransportT,
)
from .assignment import Assignment
from .bridge import Bridge
from .commit import Committer
from .dead_letter import DeadLetters
from .fetch import Fetcher
from .leader import LeaderElection
from .lifecycle import Lifecycle, Participant
from .offsets import PartitionOffsets
from .producer import Producing
from .replies import Replies
from .runs import BoundedRun
from .source import Source
from .tasks import TaskScope
from .transactions import Transactions

if TYPE_CHECKING:
    from ..app import App
    from ..channels import Channel
    from ..tables.manager import TableManager
    from ..topics import Topic

__all__ = ("State", "Worker")

T = TypeVar("T")

log = get_logger(__name__)


class State(enum.Enum):
    INIT = "init"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Worker:
    """The runtime of ``app`` (see the module doc for what it owns and its stop order).

    Args:
        app: the app it runs.
        transport: the transport to use (else one is created from ``app.conf.broker`` on
            first use, and closed when the worker stops).
    """

    def __init__(self, app: App, transport: TransportT | None = None) -> None:
        self.app = app
        conf = app.conf
        self.log = get_logger(__name__, app=conf.id)
        self.state = State.INIT
        self.loop: asyncio.AbstractEventLoop | None = None
        self._transport = transport
        self._owns_transport = False
        self.lifecycle = Lifecycle()
        # exactly-once: one transactional producer per worker (Kafka's current model);
        # zombies are fenced by their group generation, not by this id
        transactional_id = f"{conf.id}-{uuid.uuid4().hex}" if conf.exactly_once else None
        self.producing = Producing(
            lambda: self.transport, conf.producer_config(transactional_id=transactional_id)
        )
        self.lifecycle.add(self.producing)
        self.sources: dict[str, Source] = {}
        self.channel_sources: dict[int, Source] = {}
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        self.committer = Committer(
            self.offsets, self.lifecycle, interval=conf.commit_interval, every=conf.commit_every
        )
        self.fetcher = Fetcher(
            self.sources,
            self.offsets,
            max_records=conf.max_poll_records,
            timeout=conf.fetch_timeout,
            outage=self.committer.outage,
        )
        self.transactions: Transactions | None = None
        if conf.exactly_once:
            self.transactions = Transactions(
                self.producing,
                self.lifecycle,
                self.in_flight,
                wait=conf.commit_interval,
                final_wait=conf.shutdown_timeout,
            )
            self.committer.transactions = self.transactions
            self.fetcher.gate = self.transactions.gate
            self.producing.commit_all = self._commit_transaction
        #: the tables' participant, once the app has a table
        self.tables: TableManager | None = None
        for table in app.tables.values():
            self.table_manager().add(table)
        self.tasks = TaskScope(conf.id, self.crash)
        self.assignment = Assignment(
            self.offsets, self.sources, self.fetcher, self.committer, self.lifecycle, self.spawn
        )
        #: every bridge of a stream of this worker (its queued events)
        self.bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()
        self.lifecycle.add(_DropRevoked(self))
        self.dead_letters = DeadLetters(self)
        self.replies = Replies(self)
        #: whether this worker leads its group (for on_leader timers)
        self.leader = LeaderElection(self)
        #: the bounded run (``App.run``) collecting what agents yield, if any
        self.run: BoundedRun | None = None
        #: every consumer or reader this worker created (they stop, or die, with it)
        self.consumers: list[ConsumerT] = []
        self.readers: list[ReaderT] = []
        #: called with the error when the worker crashes (``async with app`` cancels its body)
        self.on_crash: list[Callable[[BaseException], None]] = []
        self.error: BaseException | None = None
        self.stopped = asyncio.Event()
        self._stopping: asyncio.Future[None] | None = None
        self._fetching: asyncio.Task[None] | None = None
        self._cut_drain = asyncio.Event()
        self._channel_sink = _NoCommit()

    # -- clients ------------------------------------------------------------------------------

    @property
    def transport(self) -> TransportT:
        """The broker connection (looked up from the app's ``broker`` on first use)."""
        if self._transport is None:
            conf = self.app.conf
            self._transport = transport_from_url(conf.broker, credentials=conf.broker_credentials)
            self._owns_transport = True
        return self._transport

    def consumer(self) -> ConsumerT | None:
        """The group consumer, once started."""
        return self.fetcher.consumer

    def create_consumer(
        self, topics: list[str], listener: RebalanceListenerT, config: ConsumerConfig
    ) -> ConsumerT:
        """A consumer of this worker's transport that stops (or dies) with the worker."""
        consumer = self.transport.create_consumer(topics, listener, config)
        self.consumers.append(consumer)
        return consumer

    def create_reader(self, config: ReaderConfig) -> ReaderT:
        """A reader (no group) of this worker's transport that stops with the worker."""
        reader = self.transport.create_reader(config)
        self.readers.append(reader)
        return reader

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        name: str,
        *,
        critical: bool = True,
        finish: bool = False,
    ) -> asyncio.Task[T]:
        """Run ``coro`` as a task of this worker (see :meth:`TaskScope.spawn`)."""
        return self.tasks.spawn(coro, name, critical=critical, finish=finish)

    # -- sources ------------------------------------------------------------------------------

    def source_for_topic(self, topic: Topic[Any, Any]) -> Source:
        """The hot source of ``topic`` (created, and subscribed when running, on first use)."""
        source = self.sources.get(topic.name)
        if source is None:
            source = Source(
                self,
                topic.name,
                topic.key_codec,
                topic.value_codec,
                pause=self.fetcher.pause,
                resume=self.fetcher.resume,
                on_decode_error=topic.on_decode_error,
                dead_letter_topic=topic.dead_letter_topic,
            )
            self.sources[topic.name] = source
            if self.state is State.RUNNING or self.fetcher.consumer is not None:
                # a stream created while running (inside an agent, in a notebook cell, by
                # group_by or through): declare the topic and widen the subscription
                self.spawn(self._subscribe(topic), f"subscribe:{topic.name}")
        return source

    def source_for_channel(self, channel: Channel[Any, Any]) -> Source:
        """The source of an in-process channel (its events are acked, never committed)."""
        source = self.channel_sources.get(id(channel))
        if source is None:
            codec = get_codec("raw")
            source = Source(self, channel.name, codec, codec, pause=_noop, resume=_noop)
            source.maxsize = channel.maxsize
            source.resume_below = channel.maxsize // 2
            source.local = PartitionOffsets(
                TopicPartition(channel.name, 0), source, self._channel_sink
            )
            self.channel_sources[id(channel)] = source
        return source

    def all_sources(self) -> list[Source]:
        """Topic and channel sources."""
        return [*self.sources.values(), *self.channel_sources.values()]

    async def declare(self, topics: list[Topic[Any, Any]]) -> None:
        """Create the topics on the broker; one that exists with fewer partitions than
        declared is a :class:`ConfigurationError`."""
        new = [t for t in topics if t.name not in self.producing.declared]
        if not new:
            return
        await self.producing.declare([t.spec() for t in new])
        explicit = [t for t in new if t.partitions is not None]
        counts = await asyncio.gather(*(self.transport.partition_count(t.name) for t in explicit))
        for topic, have in zip(explicit, counts, strict=True):
            if have is not None and topic.partitions is not None and have < topic.partitions:
                raise ConfigurationError(
                    f"topic {topic.name!r} exists on the broker with {have} partition(s), but "
                    f"the app declares {topic.partitions}: add partitions to the topic (Kafka "
                    f"can grow a topic, never shrink it), or declare partitions={have}"
                )

    def table_manager(self) -> TableManager:
        """The tables' lifecycle participant (added with the first table)."""
        if self.tables is None:
            from ..tables.manager import TableManager  # tables import streams, which import us

            self.tables = TableManager(self)
            self.lifecycle.add(self.tables)
        return self.tables

    async def _commit_transaction(self) -> None:
        """Exactly-once ``flush()``: commit the open transaction (with the offsets of what
        was processed, once the events in flight are done; put off if they are not)."""
        if self.fetcher.consumer is not None and self.state is State.RUNNING:
            await self.committer.commit()
        else:
            await self.producing.commit_transaction({}, None)

    async def _subscribe(self, topic: Topic[Any, Any]) -> None:
        await self.declare([topic])
        consumer = self.fetcher.consumer
        if consumer is None:
            await self._start_consumer()
        else:
            consumer.subscribe(list(self.sources))

    async def _start_consumer(self) -> None:
        consumer = self.create_consumer(
            list(self.sources), self.assignment, self.app.conf.consumer_config()
        )
        self.fetcher.consumer = consumer
        self.committer.consumer = consumer
        await consumer.start()
        self._fetching = self.spawn(self.fetcher.run(), "fetch")
        self.spawn(self.committer.run(), "commit")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare topics, start the producer, the agents, the consumer and the commits."""
        if self.state is not State.INIT:
            raise AppStateError(f"app {self.app.id} cannot start: it is {self.state.value}")
        self.state = State.STARTING
        self.loop = asyncio.get_running_loop()
        app = self.app
        try:
            if app.tables:
                from ..tables.copartition import check_copartitioned

                check_copartitioned(app)
            await self.declare(list(app.topics.values()))
            await self.producing.producer()
            for agent in app.agents.values():
                await agent.start()
            if self.sources and self.fetcher.consumer is None:
                await self._start_consumer()
            for spec in app.timers:  # tasks, timers and crontabs, once the agents run
                self.spawn(spec.run(app), spec.task_name)
        except BaseException:
            self.state = State.RUNNING
            await self._shutdown(drain=False)
            raise
        self.state = State.RUNNING
        self.log.info(
            "app_started",
            broker=app.conf.broker,
            topics=sorted(self.sources),
            agents=sorted(app.agents),
        )
        try:
            await self.lifecycle.started()
        except Exception as exc:  # a failing on_started hook stops the app, as an agent does
            self.crash(exc)
            await self.stop()
            raise

    async def stop(self, *, drain: bool = True) -> None:
        """Stop gracefully (see the module doc for the order).

        Args:
            drain: wait (up to ``shutdown_timeout``) for the agents to process what reached
                their streams; ``False`` also cuts short a stop that is draining now.
        """
        if not drain:
            self._cut_drain.set()
        if self.state is State.INIT:  # never started: close what sending (or a cast) opened
            self.state = State.STOPPED
            if drain:
                await self.tasks.settle(self.app.conf.shutdown_timeout)
                if self.transactions is not None:  # exactly-once: commit what was sent
                    await self._final_commit()
            await self.tasks.close()
            await self._close_clients()
            self.stopped.set()
            return
        if self.state is State.STOPPED:
            return
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._shutdown(drain=drain))
        await asyncio.shield(self._stopping)

    def crash(self, exc: BaseException, *, cause: BaseException | None = None) -> None:
        """Stop because of ``exc``: nothing acked after now is committed."""
        if cause is not None and exc.__cause__ is None:
            exc.__cause__ = cause
        if self.error is None:
            self.error = exc
            self.log.error("app_crashed", error=repr(exc))
        self.freeze()
        for callback in list(self.on_crash):
            callback(exc)
        if self._stopping is None and self.state in (State.RUNNING, State.STARTING):
            self._stopping = asyncio.ensure_future(self._shutdown(drain=False))

    def freeze(self) -> None:
        """Stop counting acks everywhere: nothing more becomes committable."""
        for po in self.offsets.values():
            po.closed = True
        for source in self.channel_sources.values():
            if source.local is not None:
                source.local.closed = True

    async def _shutdown(self, *, drain: bool) -> None:
        self.state = State.STOPPING
        conf = self.app.conf
        graceful = drain and self.error is None
        if graceful:
            self.log.info("app_stopping", draining=self.in_flight(), timeout=conf.shutdown_timeout)
        if self._fetching is not None:
            await self.tasks.cancel([self._fetching])
        if graceful:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + conf.shutdown_timeout
            await self._drain(conf.shutdown_timeout)
            if not self._cut_drain.is_set():
                # sends asked for (casts, dead letters) finish, so their acks count
                await self.tasks.settle(max(0.0, deadline - loop.time()))
        partitions = frozenset(self.offsets)
        self.assignment.stopping = True
        await self._quietly(self.lifecycle.revoking(partitions), "revoking")
        if self.transactions is not None and graceful:
            # exactly-once: the transaction commits once the events in flight are done,
            # before the offsets freeze (an event finished after that is not committed)
            await self._final_commit(wait=conf.shutdown_timeout)
        self.freeze()
        if self.transactions is not None:
            # what is still open holds output of events not committed: throw it away
            await self._quietly(self.transactions.abort("stopping"), "abort")
        elif self.fetcher.consumer is not None:
            await self._final_commit()
        for agent in self.app.agents.values():
            await agent.stop()
        await self.replies.stop(self.error)
        await self.leader.stop()  # another worker takes the leadership over at once
        await self.tasks.close()
        await self._quietly(self.lifecycle.revoked(partitions), "revoked")
        for source in self.all_sources():
            source.release_held()
        await self._close_clients()
        await self._quietly(self.lifecycle.stopped(), "stopped")
        self.state = State.STOPPED
        self.stopped.set()
        self.log.info(
            "app_stopped",
            commits=self.committer.commits,
            error=repr(self.error) if self.error else None,
        )

    async def _final_commit(self, *, wait: float | None = None) -> None:
        try:
            if self.fetcher.consumer is not None:
                await self.committer.commit(final=True, wait=wait)
            elif self.transactions is not None:  # no input: commit what was sent
                await self.producing.commit_transaction({}, None)
        except Exception as exc:  # the broker went away: nothing lost, it is redelivered
            self.log.warning("final_commit_failed", error=repr(exc))

    async def _quietly(self, step: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await step
        except Exception as exc:
            self.log.error("lifecycle_failed", step=name, error=repr(exc))
            if self.error is None:
                self.error = exc

    async def _drain(self, timeout: float) -> None:
        """Wait until the agents have processed what already reached their streams.

        Events an operator holds (a buffer, a join window) are not waited for: they need
        more input to move, and they are not committed, so they are delivered again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self._cut_drain.is_set() and self.error is None:
            if not any(a.running for a in self.app.agents.values()):
                return
            if all(len(b) == 0 for b in list(self.bridges)):
                await asyncio.sleep(0)  # let each agent finish the step it is on
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.005):
                    await self._cut_drain.wait()
        self.log.info("drain_cut", in_flight=self.in_flight())

    async def _close_clients(self) -> None:
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for reader in self.readers:
            with contextlib.suppress(Exception):
                await reader.stop()
        try:
            await self.producing.close()
        except Exception as exc:
            self.log.error("producer_close_failed", error=repr(exc))
            if self.error is None:
                self.error = exc
        if self._transport is not None and self._owns_transport:
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None

    async def kill(self) -> None:
        """Die the way a killed process does: no drain, no commit, no leaving the group."""
        self.freeze()
        self.leader.crash()
        for consumer in self.consumers:
            die = getattr(consumer, "crash", None)
            if die is not None:
                die()
        self.consumers.clear()
        for reader in self.readers:  # in no group: nothing to leave, it just goes away
            with contextlib.suppress(Exception):
                await reader.stop()
        self.readers.clear()
        for agent in self.app.agents.values():
            agent.cancel()
        await self.tasks.close()
        self.producing.abandon()
        if self._transport is not None and self._owns_transport:  # its clients die with it
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None
        self.state = State.STOPPED
        self.stopped.set()

    # -- what agents and streams report -------------------------------------------------------

    def collect(self, agent: str, value: Any) -> None:
        """An agent yielded ``value`` (kept when a bounded run is collecting)."""
        if self.run is not None:
            self.run.collect(agent, value)

    def stream_failed(self, sources: frozenset[Source]) -> None:
        """An operator of a stream raised: what its pipeline lets go of from now on is not
        acked implicitly (the failing event, events operators held). The agent still
        processes (and acks) what already reached it, then gets the error."""
        for source in sources:
            for port in source.ports:
                port.failed = True

    # -- status -------------------------------------------------------------------------------

    def in_flight(self) -> int:
        """Events delivered to streams and not acked yet, over every source."""
        return sum(s.in_flight for s in self.all_sources())

    def status(self) -> list[dict[str, Any]]:
        """One row per assigned partition: end offset, committed offset, lag, in flight."""
        consumer = self.fetcher.consumer
        rows: list[dict[str, Any]] = []
        for tp, po in sorted(self.offsets.items()):
            end = consumer.highwater(tp) if consumer is not None else None
            committed = po.committed
            rows.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "end": end,
                    "committed": committed,
                    "lag": None if end is None else end - (committed or 0),
                    "in_flight": po.in_flight,
                }
            )
        return rows


class _DropRevoked(Participant):
    """Revoked partitions' events still queued in bridges would only be duplicates (their
    new owner processes them again): drop them."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        dropped = sum(bridge.purge_revoked() for bridge in list(self.worker.bridges))
        if dropped:
            log.debug("revoked_events_dropped", count=dropped)


class _NoCommit:
    """The ack sink of channels: their events have no offsets to commit."""

    acks = 0
    every = 1 << 62
    total_acks = 0

    def due(self) -> None:
        self.acks = 0


def _noop(_: Source) -> None:
    return None
