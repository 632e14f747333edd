"""App: topics, channels and agents on one broker, with a start/stop lifecycle.

``async with app:`` (or ``await app.start()`` / ``await app.stop()``) runs the app inside
the caller's event loop; ``await app.run(timeout=..., until_idle=...)`` is the bounded run
for scripts and notebooks. Library code never calls ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import weakref
from collections.abc import Callable
from datetime import timedelta, tzinfo
from types import TracebackType
from typing import Any, TypeVar, overload

from ._bridge import Bridge
from ._commit import Committer
from ._dead_letter import dead_letter_record
from ._display import app_html
from ._fetcher import Fetcher
from ._leader import LeaderElection
from ._offsets import PartitionOffsets
from ._replies import Replies
from ._runs import BoundedRun, RunResult
from ._source import Source
from .agents import Agent, AgentFun, OnError
from .channels import Channel
from .codecs import get_codec
from .errors import AppStateError, ConfigurationError
from .logging import get_logger
from .messages import TopicPartition
from .settings import Settings
from .timers import CrontabSpec, TaskFun, TaskSpec, TimerSpec, WallClock
from .topics import Topic
from .transports import transport_from_url
from .types import CodecT, MessageT, ProducerT, TransportT

__all__ = ("App", "RunResult")

T = TypeVar("T")

log = get_logger(__name__)


class State(enum.Enum):
    INIT = "init"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class App:
    """A stream-processing application.

    Args:
        id: the app id; it names the consumer group, so every worker started with the same
            id shares the partitions.
        broker: the broker URL (``memory://`` by default, ``kafka://host:9092``).
        transport: a transport object to use instead of looking ``broker`` up.
        **settings: any field of :class:`~rxstreams.settings.Settings`.
    """

    def __init__(
        self,
        id: str,
        *,
        broker: str = "memory://",
        transport: TransportT | None = None,
        **settings: Any,
    ) -> None:
        self.conf = Settings.from_kwargs(id, broker=broker, **settings)
        self._transport = transport
        #: the app made the transport from the URL, so it closes it when it stops
        self._owns_transport = False
        self.topics: dict[str, Topic[Any, Any]] = {}
        self.channels: list[Channel[Any, Any]] = []
        self.agents: dict[str, Agent[Any]] = {}
        #: tasks, timers and crontabs (rxstreams.timers), in the order declared
        self.timers: list[TaskSpec] = []
        #: whether this worker leads its group, for on_leader timers (rxstreams._leader)
        self.leader = LeaderElection(self)
        self._sources: dict[str, Source] = {}
        self._channel_sources: dict[int, Source] = {}
        self._producer: ProducerT | None = None
        self._producer_lock = asyncio.Lock()
        self._declared: set[str] = set()
        self._committer = Committer(
            interval=self.conf.commit_interval,
            every=self.conf.commit_every,
            flush=self._flush,
        )
        self._local_sink = _NoCommit()
        self._fetcher = Fetcher(
            self._sources,
            self._committer,
            max_records=self.conf.max_poll_records,
            timeout=self.conf.fetch_timeout,
            on_revoked=self._purge_revoked,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()
        self._state = State.INIT
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replies = Replies(self)
        self._run: BoundedRun | None = None
        self._last_dead_letter: asyncio.Task[Any] | None = None
        self._error: BaseException | None = None
        self._stopped = asyncio.Event()
        self._stopping: asyncio.Task[None] | None = None
        self.log = get_logger(__name__, app=self.conf.id)

    @property
    def id(self) -> str:
        return self.conf.id

    # -- declaring ----------------------------------------------------------------------------

    def topic(
        self,
        name: str,
        *,
        partitions: int | None = None,
        key_type: Any = None,
        value_type: Any = None,
        key_serializer: str | CodecT | None = None,
        value_serializer: str | CodecT | None = None,
        retention: float | None = None,
        internal: bool = False,
        on_decode_error: str | None = None,
        dead_letter_topic: str | None = None,
    ) -> Topic[Any, Any]:
        """The topic ``name`` (the same object for the same name).

        Args:
            partitions: partition count when the app creates it (default topic_partitions).
            key_type / value_type: a Record class or marshmallow Schema for keys/values.
            key_serializer / value_serializer: codec names or objects (default from settings).
            retention: seconds records are kept (default: the broker's).
            internal: the app's own topic (repartitioning, replies).
            on_decode_error: ``raise``, ``skip`` or ``dead_letter`` for records that do not
                decode (default: the on_decode_error setting).
            dead_letter_topic: where dead letters go (default ``<name>-dlq``).
        """
        existing = self.topics.get(name)
        if existing is not None:
            if partitions is not None and existing.partitions not in (None, partitions):
                raise ConfigurationError(
                    f"topic {name!r} was declared with {existing.partitions} partitions, "
                    f"not {partitions}"
                )
            for what, given, have in (
                ("key_serializer", key_serializer, existing.key_codec),
                ("value_serializer", value_serializer, existing.value_codec),
                ("key_type", key_type, existing.key_type),
                ("value_type", value_type, existing.value_type),
            ):
                if given is None:
                    continue
                same = given is have if what.endswith("type") else get_codec(given) is have
                if not same:
                    raise ConfigurationError(f"topic {name!r} was declared with another {what}")
            return existing
        topic: Topic[Any, Any] = Topic(
            self,
            name,
            partitions=partitions,
            key_type=key_type,
            value_type=value_type,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
            retention=retention,
            internal=internal,
            on_decode_error=on_decode_error,
            dead_letter_topic=dead_letter_topic,
        )
        self.topics[name] = topic
        return topic

    def channel(self, *, name: str | None = None, maxsize: int | None = None) -> Channel[Any, Any]:
        """A new in-process channel (unpartitioned, nothing serialized)."""
        channel: Channel[Any, Any] = Channel(self, name=name, maxsize=maxsize)
        self.channels.append(channel)
        return channel

    def agent(
        self,
        channel: Any = None,
        *,
        name: str | None = None,
        concurrency: int = 1,
        sink: list[Any] | None = None,
        on_error: OnError | None = None,
        supervisor_strategy: str | None = None,
        help: str | None = None,
        **kwargs: Any,
    ) -> Callable[[AgentFun[T]], Agent[T]]:
        """Decorate ``async def fun(stream)`` to run it as an agent over ``channel``."""

        def register(fun: AgentFun[T]) -> Agent[T]:
            agent: Agent[T] = Agent(
                fun,
                app=self,
                channel=channel,
                name=name,
                concurrency=concurrency,
                sink=sink,
                on_error=on_error,
                supervisor_strategy=supervisor_strategy,
                help=help,
                **kwargs,
            )
            if agent.name in self.agents:
                raise ConfigurationError(f"an agent named {agent.name!r} exists already")
            self.agents[agent.name] = agent
            if self._state is State.RUNNING:  # declared in a later notebook cell: run it now
                self._spawn(agent.start(), f"start:{agent.name}")
            return agent

        return register

    @overload
    def task(self, fun: TaskFun, /) -> TaskFun: ...

    @overload
    def task(
        self, fun: None = None, /, *, name: str | None = None
    ) -> Callable[[TaskFun], TaskFun]: ...

    def task(self, fun: Any = None, /, *, name: str | None = None) -> Any:
        """Decorate ``async def fun()`` (or ``fun(app)``) to run it once when the worker
        starts, after the agents. Usable as ``@app.task`` and ``@app.task()``."""

        def register(fun: TaskFun) -> TaskFun:
            return self._declare_timer(TaskSpec(fun, name=name), fun)

        return register if fun is None else register(fun)

    def timer(
        self, interval: float | timedelta, on_leader: bool = False, *, name: str | None = None
    ) -> Callable[[TaskFun], TaskFun]:
        """Decorate ``async def fun()`` (or ``fun(app)``) to run it every ``interval``
        seconds while the worker runs; the first run is one interval after the start, as in
        Faust. ``on_leader=True``: on one worker of the group only. See
        :class:`~rxstreams.timers.TimerSpec`."""

        def register(fun: TaskFun) -> TaskFun:
            spec = TimerSpec(fun, interval, on_leader=on_leader, name=name)
            return self._declare_timer(spec, fun)

        return register

    def crontab(
        self,
        cron_format: str,
        *,
        timezone: tzinfo | str | None = None,
        on_leader: bool = False,
        name: str | None = None,
        clock: WallClock | None = None,
    ) -> Callable[[TaskFun], TaskFun]:
        """Decorate ``async def fun()`` (or ``fun(app)``) to run it at the times of the
        cron expression ``cron_format``, in ``timezone`` (default UTC, as in Faust).
        ``on_leader=True``: on one worker of the group only. See
        :class:`~rxstreams.timers.CrontabSpec`."""

        def register(fun: TaskFun) -> TaskFun:
            spec = CrontabSpec(
                fun, cron_format, timezone=timezone, on_leader=on_leader, name=name, clock=clock
            )
            return self._declare_timer(spec, fun)

        return register

    def _declare_timer(self, spec: TaskSpec, fun: TaskFun) -> TaskFun:
        self.timers.append(spec)
        if self._state is State.RUNNING:  # declared in a later notebook cell: run it now
            self._spawn(spec.run(self), spec.task_name)
        return fun

    # -- sources ------------------------------------------------------------------------------

    def _source_for_topic(self, topic: Topic[Any, Any]) -> Source:
        source = self._sources.get(topic.name)
        if source is None:
            source = Source(
                self,
                topic.name,
                topic.key_codec,
                topic.value_codec,
                pause=self._fetcher.pause,
                resume=self._fetcher.resume,
                on_decode_error=topic.on_decode_error,
                dead_letter_topic=topic.dead_letter_topic,
            )
            self._sources[topic.name] = source
            if self._state is State.RUNNING or self._fetcher.consumer is not None:
                # a stream created while running (inside an agent, in a notebook cell, by
                # group_by or through): declare the topic and widen the subscription
                self._spawn(self._subscribe(topic), f"subscribe:{topic.name}")
        return source

    async def _subscribe(self, topic: Topic[Any, Any]) -> None:
        if topic.name not in self._declared:
            await self.transport.create_topics([topic.spec()])
            self._declared.add(topic.name)
        fetcher = self._fetcher
        if fetcher.consumer is None:
            consumer = self.transport.create_consumer(
                list(self._sources), fetcher, self.conf.consumer_config()
            )
            fetcher.consumer = consumer
            await consumer.start()
            self._spawn(fetcher.run(), "fetcher")
            self._spawn(self._committer.run(fetcher.commit), "committer")
        else:
            fetcher.consumer.subscribe(list(self._sources))

    def _source_for_channel(self, channel: Channel[Any, Any]) -> Source:
        source = self._channel_sources.get(id(channel))
        if source is None:
            codec = get_codec("raw")
            source = Source(self, channel.name, codec, codec, pause=_noop, resume=_noop)
            source.maxsize = channel.maxsize
            source.resume_below = channel.maxsize // 2
            source.local = PartitionOffsets(
                TopicPartition(channel.name, 0), source, self._local_sink
            )
            self._channel_sources[id(channel)] = source
        return source

    # -- transport ----------------------------------------------------------------------------

    @property
    def transport(self) -> TransportT:
        """The broker connection (looked up from ``broker`` on first use)."""
        if self._transport is None:
            self._transport = transport_from_url(self.conf.broker)
            self._owns_transport = True
        return self._transport

    async def _ensure_producer(self, topic: Topic[Any, Any] | None = None) -> ProducerT:
        if topic is not None and topic.name not in self._declared:
            await self.transport.create_topics([topic.spec()])
            self._declared.add(topic.name)
        producer = self._producer
        if producer is None:
            async with self._producer_lock:
                producer = self._producer
                if producer is None:
                    producer = self.transport.create_producer(self.conf.producer_config())
                    await producer.start()
                    self._producer = producer
        return producer

    async def _flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare topics, start the producer, the agents, the consumer and the commits."""
        if self._state is not State.INIT:
            raise AppStateError(f"app {self.id} cannot start: it is {self._state.value}")
        self._state = State.STARTING
        self._loop = asyncio.get_running_loop()
        log = self.log
        try:
            specs = [t.spec() for t in self.topics.values() if t.name not in self._declared]
            if specs:
                await self.transport.create_topics(specs)
                self._declared.update(s.name for s in specs)
            await self._ensure_producer()
            for agent in self.agents.values():
                await agent.start()
            if self._sources:
                fetcher = self._fetcher
                consumer = self.transport.create_consumer(
                    list(self._sources), fetcher, self.conf.consumer_config()
                )
                fetcher.consumer = consumer
                await consumer.start()
                self._spawn(fetcher.run(), "fetcher")
                self._spawn(self._committer.run(fetcher.commit), "committer")
            # tasks, timers and crontabs (rxstreams.timers), once the agents run
            for spec in self.timers:
                self._spawn(spec.run(self), spec.task_name)
        except BaseException:
            self._state = State.RUNNING
            await self._shutdown(commit=False)
            raise
        self._state = State.RUNNING
        log.info(
            "app_started",
            broker=self.conf.broker,
            topics=sorted(self._sources),
            agents=sorted(self.agents),
        )

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.id}:{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._crash(exc)

    async def stop(self) -> None:
        """Stop gracefully: stop fetching, let agents finish what they have (up to
        ``shutdown_timeout``), commit, leave the group, flush and close the producer."""
        if self._state in (State.INIT, State.STOPPED):
            self._state = State.STOPPED
            self._stopped.set()
            return
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._shutdown(commit=True))
        await asyncio.shield(self._stopping)

    async def _shutdown(self, *, commit: bool) -> None:
        self._state = State.STOPPING
        fetcher = self._fetcher
        for task in self._tasks:
            if task.get_name().endswith(":fetcher"):
                task.cancel()
        if commit and self._error is None:
            await self._drain(self.conf.shutdown_timeout)
        # from here on nothing becomes committable: events still queued were not processed
        fetcher.close_all()
        for source in self._channel_sources.values():
            if source.local is not None:
                source.local.closed = True
        if commit and fetcher.consumer is not None:
            try:
                await fetcher.commit()
            except Exception as exc:  # the broker went away: nothing lost, it is redelivered
                self.log.warning("final_commit_failed", error=repr(exc))
        for agent in self.agents.values():
            await agent.stop()
        await self._replies.stop()
        await self.leader.stop()  # the election of on_leader timers (rxstreams._leader)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for source in [*self._sources.values(), *self._channel_sources.values()]:
            source.release_held()
        if fetcher.consumer is not None:
            with contextlib.suppress(Exception):
                await fetcher.consumer.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        if self._transport is not None and self._owns_transport:
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None
        self._state = State.STOPPED
        self._stopped.set()
        self.log.info(
            "app_stopped",
            commits=self._committer.commits,
            error=repr(self._error) if self._error else None,
        )

    async def _drain(self, timeout: float) -> None:
        """Wait until the agents have processed what already reached their streams.

        Events an operator holds (a buffer, a join window) are not waited for: they need
        more input to move, and they are not committed, so they are delivered again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not any(a.running for a in self.agents.values()):
                return
            if all(len(b) == 0 for b in list(self._bridges)):
                await asyncio.sleep(0)  # let each agent finish the step it is on
                return
            await asyncio.sleep(0.005)

    def _crash(self, exc: BaseException, *, cause: BaseException | None = None) -> None:
        """Stop because of ``exc``: nothing acked after now is committed."""
        if cause is not None and exc.__cause__ is None:
            exc.__cause__ = cause
        if self._error is None:
            self._error = exc
            self.log.error("app_crashed", error=repr(exc))
        self._fetcher.close_all()
        for source in self._channel_sources.values():
            if source.local is not None:
                source.local.closed = True
        if self._stopping is None and self._state in (State.RUNNING, State.STARTING):
            self._stopping = asyncio.ensure_future(self._shutdown(commit=True))

    def _stream_failed(self, sources: frozenset[Source], exc: BaseException) -> None:
        """An operator of a stream raised: what its pipeline lets go of from now on is not
        acked implicitly (the failing event, events operators held). The agent still
        processes (and acks) what already reached it, then gets the error."""
        for source in sources:
            for port in source.ports:
                port.failed = True

    def _dead_letter_record(
        self, m: MessageT, offsets: PartitionOffsets, exc: Exception, topic: str | None
    ) -> None:
        """Send an undecodable record aside, then ack it (its offset stays uncommitted
        until the send is queued)."""

        previous = self._last_dead_letter

        async def send_then_ack() -> None:
            if previous is not None:  # in order: after the dead letter before it
                with contextlib.suppress(BaseException):
                    await previous
            await dead_letter_record(self, m, exc, topic or f"{m.topic}-dlq")
            offsets.ack(m.offset)

        self._last_dead_letter = self._spawn(send_then_ack(), "dead-letter")

    def _purge_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        """Revoked partitions' events still queued would only be duplicates: drop them."""
        dropped = sum(bridge.purge_revoked() for bridge in list(self._bridges))
        if dropped:
            self.log.debug("revoked_events_dropped", count=dropped)

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if exc is None and self._error is not None:
            raise self._error

    async def wait(self) -> None:
        """Wait until the app stops (raising the error it stopped with, if any)."""
        await self._stopped.wait()
        if self._error is not None:
            raise self._error

    async def run(
        self,
        *,
        timeout: float | None = None,
        until_idle: bool = False,
        count: int | None = None,
        progress: bool = False,
    ) -> RunResult:
        """A bounded run: start, run, stop gracefully, and return what the agents yielded.

        It ends at the first of: ``timeout`` seconds; (``until_idle``) every event fetched
        so far processed and nothing new arriving; (``count``) that many values yielded by
        the agents. ``progress=True`` shows a progress bar (``tqdm.auto``). Awaitable from a
        notebook cell (a loop is already running there; ``asyncio.run`` would fail).

        Returns:
            The values each agent yielded during the run, by agent name.

        Raises:
            The error the app stopped with, if it crashed.
        """
        if count is not None and count < 1:
            raise ConfigurationError(f"count must be >= 1, not {count}")
        run = BoundedRun(self, count=count, progress=progress)
        self._run = run
        await self.start()
        try:
            await run.wait(timeout=timeout, until_idle=until_idle)
        finally:
            await self.stop()
            self._run = None
            run.close()
        if self._error is not None:
            raise self._error
        return run.result

    def _collect(self, agent: str, value: Any) -> None:
        """An agent yielded ``value`` (kept when a bounded run is collecting)."""
        if self._run is not None:
            self._run.collect(agent, value)

    @property
    def state(self) -> str:
        """``init``, ``starting``, ``running``, ``stopping`` or ``stopped``."""
        return self._state.value

    def status(self) -> list[dict[str, Any]]:
        """One row per assigned partition: end offset, committed offset, lag, in flight."""
        consumer = self._fetcher.consumer
        rows: list[dict[str, Any]] = []
        for tp, po in sorted(self._fetcher.offsets.items()):
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

    def __repr__(self) -> str:
        return (
            f"<App {self.id} broker={self.conf.broker} state={self._state.value} "
            f"topics={len(self.topics)} agents={len(self.agents)}>"
        )

    def _repr_html_(self) -> str:
        return app_html(self)


class _NoCommit:
    """The ack sink of channels: their events have no offsets to commit."""

    acks = 0
    every = 1 << 62
    total_acks = 0

    def due(self) -> None:
        self.acks = 0


def _noop(_: Source) -> None:
    return None
