"""App: what a stream-processing application declares, and its start/stop lifecycle.

An ``App`` declares settings, topics, channels and agents. Running them is the job of its
:class:`~rxstreams.runtime.worker.Worker` (``app.worker``), which owns the consumer, the
producer, the partitions, the commits and every task. ``async with app:`` (or
``await app.start()`` / ``await app.stop()``) runs the app inside the caller's event loop;
``await app.run(timeout=..., until_idle=...)`` is the bounded run for scripts and
notebooks. Library code never calls ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict, TypeVar, overload

from ._display import app_html
from .agents import Agent, AgentFun, OnError
from .channels import Channel
from .codecs import get_codec
from .commands import Command, Param
from .errors import ConfigurationError
from .faust_names import refuse
from .hooks import AppHooks, HookFun, Signal
from .runtime.leader import LeaderElection
from .runtime.runs import BoundedRun, RunResult
from .runtime.worker import State, Worker
from .settings import Settings
from .tables import Table
from .timers import CrontabSpec, TaskFun, TaskSpec, TimerSpec, WallClock
from .topics import Topic
from .types import CodecT, TransportT

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("App", "RunResult", "TopicOptions")

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])


class TopicOptions(TypedDict, total=False):
    """The options of :meth:`App.topic` besides ``key_type`` and ``value_type``."""

    partitions: int | None
    key_serializer: str | CodecT | None
    value_serializer: str | CodecT | None
    retention: float | None
    internal: bool
    on_decode_error: str | None
    dead_letter_topic: str | None
    compacting: bool


class App:
    """A stream-processing application.

    Args:
        id: the app id; it names the consumer group, so every worker started with the same
            id shares the partitions.
        broker: the broker URL (``memory://`` by default, ``kafka://host:9092``).
        transport: a transport object to use instead of looking ``broker`` up.
        **settings: any field of :class:`~rxstreams.settings.Settings`.
    """

    if not TYPE_CHECKING:  # a Faust name rxstreams lacks gets a hint; type checkers see none

        def __getattr__(self, name: str) -> Any:
            refuse(self, name)

    def __init__(
        self,
        id: str,
        *,
        broker: str = "memory://",
        transport: TransportT | None = None,
        **settings: Any,
    ) -> None:
        self.conf = Settings.from_kwargs(id, broker=broker, **settings)
        self._given_transport = transport
        self.topics: dict[str, Topic[Any, Any]] = {}
        self.channels: list[Channel[Any, Any]] = []
        self.agents: dict[str, Agent[Any]] = {}
        #: tasks, timers and crontabs (rxstreams.timers), in the order declared
        self.timers: list[TaskSpec] = []
        self._worker: Worker | None = None
        #: the task running an ``async with app:`` body (cancelled if the app crashes)
        self._body: asyncio.Task[Any] | None = None
        self._body_cancelled = False
        self._hooks = AppHooks(self, self._hooks_declared)
        #: the subcommands declared with ``@app.command()``, by name
        self.commands: dict[str, Command] = {}
        #: the tables declared with :meth:`Table`, by name
        self.tables: dict[str, Table[Any, Any]] = {}

    @property
    def worker(self) -> Worker:
        """The runtime of this app (created on first use: a stream, a send, ``start()``)."""
        worker = self._worker
        if worker is None:
            worker = self._worker = Worker(self, self._given_transport)
            worker.on_crash.append(self._cancel_body)
            self._hooks_declared()
        return worker

    def _hooks_declared(self) -> None:
        if self._worker is not None and self._hooks.any:
            self._worker.lifecycle.add(self._hooks)

    @property
    def id(self) -> str:
        return self.conf.id

    # -- declaring ----------------------------------------------------------------------------

    @overload
    def topic(
        self,
        name: str,
        *,
        key_type: type[K],
        value_type: type[V],
        **options: Unpack[TopicOptions],
    ) -> Topic[K, V]: ...

    @overload
    def topic(
        self,
        name: str,
        *,
        key_type: type[K],
        value_type: None = None,
        **options: Unpack[TopicOptions],
    ) -> Topic[K, Any]: ...

    @overload
    def topic(
        self,
        name: str,
        *,
        key_type: None = None,
        value_type: type[V],
        **options: Unpack[TopicOptions],
    ) -> Topic[Any, V]: ...

    @overload
    def topic(
        self,
        name: str,
        *,
        key_type: Any = None,
        value_type: Any = None,
        **options: Unpack[TopicOptions],
    ) -> Topic[Any, Any]: ...

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
        compacting: bool = False,
    ) -> Topic[Any, Any]:
        """The topic ``name`` (the same object for the same name).

        Args:
            partitions: partition count when the app creates it (default topic_partitions).
            key_type / value_type: a Record class, marshmallow Schema, int, float, str or bytes.
            key_serializer / value_serializer: codec names or objects (default from settings).
            retention: seconds records are kept (default: the broker's).
            internal: the app's own topic (repartitioning, replies).
            on_decode_error: ``raise``, ``skip`` or ``dead_letter`` for records that do not
                decode (default: the on_decode_error setting).
            dead_letter_topic: where dead letters go (default ``<name>-dlq``).
            compacting: the broker keeps only the latest record per key (a changelog).
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
            compacting=compacting,
        )
        self.topics[name] = topic
        return topic

    def Table(
        self,
        name: str,
        *,
        default: Callable[[], Any] | None = None,
        key_type: Any = None,
        value_type: Any = None,
        partitions: int | None = None,
        changelog_topic: str | None = None,
        store: str | None = None,
        help: str | None = None,
        key_serializer: str | CodecT | None = None,
        value_serializer: str | CodecT | None = None,
    ) -> Table[Any, Any]:
        """A table: durable keyed state, written by agents, kept in a changelog topic.

        Args:
            name: the table's name; its changelog is ``<app id>-<name>-changelog``.
            default: called for a missing key (``int`` for counts), else KeyError.
            key_type / value_type: as for topics: Record classes, int, str...
            partitions: the table's partition count: the count of the topics whose
                agents write it (default ``topic_partitions``).
            changelog_topic: another name for the changelog topic.
            store: where the partitions are kept: ``memory://`` (the default, the
                ``store`` setting) or ``rocksdb://path``.
            help: what the table holds (shown by the CLI and views).
            key_serializer / value_serializer: codec names or objects of the changelog.
        """
        if name in self.tables:
            raise ConfigurationError(f"table {name!r} is declared already")
        table: Table[Any, Any] = Table(
            self,
            name,
            default=default,
            key_type=key_type,
            value_type=value_type,
            partitions=partitions,
            changelog_topic=changelog_topic,
            store=store,
            help=help,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
        )
        self.tables[name] = table
        if self._worker is not None:
            self._worker.table_manager().add(table)
        return table

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
        if callable(channel) and not callable(getattr(channel, "stream", None)):
            raise ConfigurationError(  # bare @app.agent: the function would never run
                f"@app.agent was given the function {channel!r} as its channel: write "
                "@app.agent() (with parentheses) or @app.agent(topic)"
            )

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
            if self.state == "running":  # declared in a later notebook cell: run it now
                self.worker.spawn(agent.start(), f"start:{agent.name}")
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
        if self.state == "running":  # declared in a later notebook cell: run it now
            self.worker.spawn(spec.run(self), spec.task_name)
        return fun

    # -- hooks and commands -------------------------------------------------------------------

    def on_started(self, fun: HookFun) -> HookFun:
        """Decorate ``async def fun()`` to call it once the app started (its agents run),
        before ``start()`` returns. One that raises stops the app, as a failing agent does."""
        return self._hooks.add("on_started", fun)

    def on_stopped(self, fun: HookFun) -> HookFun:
        """Decorate ``async def fun()`` to call it once the app stopped (committed, clients
        closed), the last declared first. One that raises is the error the app stopped with."""
        return self._hooks.add("on_stopped", fun)

    @property
    def on_partitions_assigned(self) -> Signal:
        """Faust's signal: ``@app.on_partitions_assigned.connect`` receivers are called
        ``fun(app, assigned)`` with the set of TopicPartitions, before their delivery."""
        return self._hooks.partitions_assigned

    @property
    def on_partitions_revoked(self) -> Signal:
        """Faust's signal: ``@app.on_partitions_revoked.connect`` receivers are called
        ``fun(app, revoked)`` with the set of TopicPartitions, before their final commit."""
        return self._hooks.partitions_revoked

    @property
    def on_startup_finished(self) -> HookFun | None:
        """Faust's callback attribute: ``app.on_startup_finished = async_fun`` is called
        after the ``on_started`` hooks."""
        return self._hooks.startup_finished

    @on_startup_finished.setter
    def on_startup_finished(self, fun: HookFun | None) -> None:
        if fun is not None and not inspect.iscoroutinefunction(fun):
            raise ConfigurationError(
                f"app.on_startup_finished takes an async function, not {fun!r}"
            )
        self._hooks.startup_finished = fun
        self._hooks.declared()

    def command(
        self, *params: Param, name: str | None = None, help: str | None = None
    ) -> Callable[[F], F]:
        """Decorate a function (``async`` or not) to add it as a subcommand of the command
        line, with ``option(...)``/``argument(...)`` as in Faust; see rxstreams.commands."""

        def register(fun: F) -> F:
            command = Command.declare(fun, params, name, help)
            if command.name in self.commands:
                raise ConfigurationError(f"a command named {command.name!r} exists already")
            self.commands[command.name] = command
            return fun

        return register

    def main(self, argv: Sequence[str] | None = None) -> NoReturn:
        """Run the command line on this app, as Faust's ``app.main()``: with
        ``if __name__ == "__main__": app.main()`` in ``mymod.py``, ``python mymod.py worker
        -l info`` runs a worker, ``python mymod.py send @agent VALUE`` sends."""
        from .cli import main

        sys.exit(main(argv, app=self))

    @property
    def leader(self) -> LeaderElection:
        """Whether this worker leads its group (for ``on_leader`` timers and crontabs)."""
        return self.worker.leader

    # -- transport ----------------------------------------------------------------------------

    @property
    def transport(self) -> TransportT:
        """The broker connection (looked up from ``broker`` on first use)."""
        return self.worker.transport

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare topics, start the producer, the agents, the consumer and the commits."""
        await self.worker.start()

    async def stop(self, *, drain: bool = True) -> None:
        """Stop gracefully: stop fetching, let agents finish what they have (up to
        ``shutdown_timeout``; ``drain=False`` cuts that short, also for a stop under way),
        commit, leave the group, flush and close the producer.

        An app that was never started still flushes and closes its producer: what a
        script sent is on the broker when this returns.
        """
        await self.worker.stop(drain=drain)

    async def __aenter__(self) -> App:
        await self.start()
        self._body = asyncio.current_task()
        return self

    def _cancel_body(self, exc: BaseException) -> None:
        """The app crashed: the ``async with`` body stops at once (its block raises)."""
        body = self._body
        if body is not None and not body.done() and not self._body_cancelled:
            self._body_cancelled = True
            body.cancel(msg=f"app {self.id} crashed: {exc!r}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        body, self._body = self._body, None
        ours = self._body_cancelled
        self._body_cancelled = False
        if ours and body is not None and body.uncancel() > 0:
            ours = False  # somebody else cancelled it too: let that cancellation through
        await self.stop()
        error = self.worker.error
        if error is not None and (exc is None or (ours and exc_type is asyncio.CancelledError)):
            raise error
        return False

    async def wait(self) -> None:
        """Wait until the app stops (raising the error it stopped with, if any)."""
        worker = self.worker
        await worker.stopped.wait()
        if worker.error is not None:
            raise worker.error

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
        worker = self.worker
        run = BoundedRun(worker, count=count, progress=progress)
        worker.run = run
        await self.start()
        try:
            await run.wait(timeout=timeout, until_idle=until_idle)
        finally:
            await self.stop()
            worker.run = None
            run.close()
        if worker.error is not None:
            raise worker.error
        return run.result

    @property
    def state(self) -> str:
        """``init``, ``starting``, ``running``, ``stopping`` or ``stopped``."""
        worker = self._worker
        return State.INIT.value if worker is None else worker.state.value

    def status(self) -> list[dict[str, Any]]:
        """One row per assigned partition: end offset, committed offset, lag, in flight."""
        return [] if self._worker is None else self._worker.status()

    def __repr__(self) -> str:
        return (
            f"<App {self.id} broker={self.conf.broker} state={self.state} "
            f"topics={len(self.topics)} agents={len(self.agents)}>"
        )

    def _repr_html_(self) -> str:
        return app_html(self)
