"""Agent: an ``async def`` that consumes a stream, run by the app as one or more tasks.

Error handling has two parts:

- ``on_error`` decides what happens to the event an instance failed on: ``"crash"`` (the
  default: the app stops, and nothing is committed past that event, so it is processed
  again after a restart), ``"skip"`` (ack it and go on), ``"retry"`` (deliver it again, up
  to ``redelivery_limit`` times, then crash), ``"dead_letter"`` (send it to
  ``<topic>-dlq``, then ack it). It may also be a function ``(agent, exc, event)`` (sync or
  async) returning one of those names, for decisions per exception.
- ``supervisor_strategy`` decides what happens to the instances once the event is dealt
  with: ``"one_for_one"`` (the default: restart the failing instance), ``"one_for_all"``
  (restart every instance; events they were processing are delivered again) or
  ``"crash"`` (stop the app with the error).

An exception in a ``filter``/``map`` function of the agent's stream gets the same
``on_error`` treatment (the stream keeps running).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from ._display import html_table
from .errors import AgentError, AppStateError, ConfigurationError
from .events import CORRELATION_ID_HEADER, REPLY_TO_HEADER, Event, _current_item
from .faust_names import refuse
from .logging import _agent_name, get_logger
from .runtime.dead_letter import dead_letter_event, dead_letter_record
from .runtime.tokens import holds, pin, unpin
from .streams import Stream

if TYPE_CHECKING:
    from .app import App

__all__ = ("Agent", "ErrorAction", "SupervisorStrategy")

T = TypeVar("T")

log = get_logger(__name__)

AgentFun = Callable[[Stream[T]], Awaitable[None] | AsyncIterator[Any]]
ErrorAction = Literal["crash", "skip", "retry", "dead_letter"]
SupervisorStrategy = Literal["one_for_one", "one_for_all", "crash"]
OnError = ErrorAction | Callable[..., Any]

_ACTIONS = ("crash", "skip", "retry", "dead_letter")
_STRATEGIES = ("one_for_one", "one_for_all", "crash")


class Agent(Generic[T]):
    """Stream processing agent: ``fun(stream)`` run by the app over ``channel``.

    Args:
        fun: ``async def fun(stream)``, or an async generator whose yields go to ``sink``
            (and, for a request sent with :meth:`ask`, back to the asker).
        app: the app the agent belongs to.
        channel: the topic or channel consumed (default: a topic named after the agent).
        name: the agent's name (default: the function's qualified name).
        concurrency: how many instances iterate the one stream at once. Events are handed
            to free instances in order, so with more than one, processing (and so per-key
            order) interleaves; commits stay correct (only the contiguous acked prefix).
        sink: where yielded values go: channels, topics, agents or callables.
        on_error: what happens to the event an instance failed on (see the module doc).
        supervisor_strategy: what happens to the instances after a failure.
        help: text for the CLI (default: the function's docstring).
    """

    if not TYPE_CHECKING:  # a Faust name rxstreams lacks gets a hint; type checkers see none

        def __getattr__(self, name: str) -> Any:
            refuse(self, name)

    def __init__(
        self,
        fun: AgentFun[T],
        *,
        app: App,
        channel: Any = None,
        name: str | None = None,
        concurrency: int = 1,
        sink: list[Any] | None = None,
        on_error: OnError | None = None,
        supervisor_strategy: str | None = None,
        help: str | None = None,
        **kwargs: Any,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be >= 1, not {concurrency}")
        if isinstance(on_error, str) and on_error not in _ACTIONS:
            raise ConfigurationError(f"on_error must be one of {_ACTIONS} or a function")
        if supervisor_strategy is not None and supervisor_strategy not in _STRATEGIES:
            raise ConfigurationError(f"supervisor_strategy must be one of {_STRATEGIES}")
        if kwargs:
            raise ConfigurationError(f"unknown agent option(s): {', '.join(sorted(kwargs))}")
        self.fun = fun
        self.app = app
        self.name = name or f"{fun.__module__}.{fun.__qualname__}"
        self._channel = channel if channel is not None else app.topic(self.name)
        self._concurrency = concurrency
        self.sink = list(sink or ())
        self.on_error: OnError = on_error if on_error is not None else "crash"
        self.supervisor_strategy: str = supervisor_strategy or "one_for_one"
        self._help = help or (inspect.getdoc(fun) or "")
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._restarting: set[int] = set()
        self._stream: Stream[T] | None = None
        #: how many times an instance was restarted after an error
        self.restarts = 0

    # -- the spec's properties ----------------------------------------------------------------

    @property
    def channel(self) -> Any:
        """The agent's input channel or topic."""
        return self._channel

    @property
    def concurrency(self) -> int:
        """How many instances run over the stream."""
        return self._concurrency

    @property
    def help(self) -> str:
        """Help text for the CLI."""
        return self._help

    @property
    def stream(self) -> Stream[T]:
        """The stream the instances share (created on first use)."""
        if self._stream is None:
            self._stream = self._channel.stream()
            self._stream.ctx.handler = self._operator_error
        return self._stream

    def __call__(self, stream: Stream[T]) -> Awaitable[None] | AsyncIterator[Any]:
        return self.fun(stream)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the agent's instances (the app does this on start)."""
        if self._tasks:
            return
        for i in range(self._concurrency):
            self._start_instance(i)

    def _start_instance(self, index: int) -> None:
        worker = self.app.worker
        task = worker.spawn(self._run(self.stream, index), f"agent:{self.name}#{index}")
        self._tasks[index] = task

    async def stop(self) -> None:
        """Cancel the instances and wait for them to end."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await self.app.worker.tasks.cancel(tasks)

    def cancel(self) -> None:
        """Cancel the instances without waiting."""
        for t in self._tasks.values():
            t.cancel()

    @property
    def running(self) -> bool:
        """True while an instance is running."""
        return any(not t.done() for t in self._tasks.values())

    async def _run(self, stream: Stream[T], index: int) -> None:
        _agent_name.set(self.name)  # this task's context: log lines carry the agent
        while True:
            try:
                result = self.fun(stream)
                if inspect.isasyncgen(result):
                    async for value in result:
                        await self._yielded(value)
                else:
                    await result  # type: ignore[misc]
            except asyncio.CancelledError:
                if index in self._restarting:  # one_for_all: its event goes round again
                    self._restarting.discard(index)
                    _redeliver(_current_item())
                raise
            except Exception as exc:
                item = _current_item()
                if item is not None:
                    pin(item)  # until the policy decided, nothing may ack it
                if not await self._recover(exc, item, index):
                    return
                continue
            log.debug("agent_finished", agent=self.name, instance=index)
            return

    async def _recover(self, exc: Exception, item: Any, index: int) -> bool:
        """Apply on_error and the supervisor strategy; True to restart this instance."""
        action = await self._decide(exc, item)
        log.warning("agent_error", agent=self.name, instance=index, error=repr(exc), action=action)
        if action == "crash":
            self._crash(exc)
            return False
        try:
            await self._dispose(action, item, exc)
        except Exception as again:  # redelivery limit reached, dead-letter send failed
            self._crash(again)
            return False
        if self.supervisor_strategy == "crash":
            self._crash(exc)
            return False
        self.restarts += 1
        if self.supervisor_strategy == "one_for_all":
            for other, task in list(self._tasks.items()):
                if other != index and not task.done():
                    self._restarting.add(other)
                    task.cancel()
                    task.add_done_callback(functools.partial(self._restart_later, other))
        return True

    def _restart_later(self, index: int, _: object = None) -> None:
        if self.app.state == "running":
            self._start_instance(index)

    async def _decide(self, exc: Exception, item: Any) -> str:
        on_error = self.on_error
        if isinstance(on_error, str):
            return on_error
        event = item[-1] if type(item) is list and item else item
        decision = on_error(self, exc, event if isinstance(event, Event) else None)
        if inspect.isawaitable(decision):
            decision = await decision
        if decision is None:
            return "crash"
        if decision not in _ACTIONS:
            raise ConfigurationError(f"on_error returned {decision!r}, not one of {_ACTIONS}")
        return str(decision)

    async def _dispose(self, action: str, item: Any, exc: BaseException) -> None:
        """Deal with the failed item: skip, retry or dead-letter it."""
        items = item if type(item) is list else [item]
        # only events this stream still holds: the failure may come after the last one
        # was done with (a stream error raised while waiting for the next)
        events = [e for e in items if isinstance(e, Event) and holds(e)]
        for event in events:
            unpin(event)
            if action == "skip":
                event.ack()
            elif action == "retry":
                event.reject()
            elif action == "dead_letter":
                await self._dead_letter(event, exc)
                event.ack()

    def _operator_error(self, event: Event[Any, Any], exc: BaseException) -> bool:
        """on_error for an exception raised in a filter/map function of the stream."""
        action = self.on_error if isinstance(self.on_error, str) else "crash"
        log.warning("operator_error", agent=self.name, error=repr(exc), action=action)
        if action == "skip":
            event.ack()
        elif action == "retry":
            event.reject()
        elif action == "dead_letter":
            pin(event)
            self.app.worker.spawn(
                self._dead_letter_then_ack(event, exc), "dead-letter", finish=True
            )
        else:
            return False
        return True

    async def _dead_letter_then_ack(self, event: Event[Any, Any], exc: BaseException) -> None:
        try:
            await self._dead_letter(event, exc)
        except Exception as again:
            self._crash(again)
            return
        unpin(event)
        event.ack()

    async def _dead_letter(self, event: Event[Any, Any], exc: BaseException) -> None:
        """Send the event as it arrived, and the error, to the dead-letter topic."""
        msg = event.message
        topic = getattr(self._channel, "dead_letter_topic", None)
        if msg is not None and topic is not None and msg.topic == self._channel.name:
            await dead_letter_record(self.app, msg, exc, topic, agent=self.name)
        else:
            await dead_letter_event(self.app, event, exc, f"{self.name}-dlq", agent=self.name)

    def _crash(self, exc: BaseException) -> None:
        self.app.worker.crash(
            AgentError(
                f"agent {self.name} raised {exc!r}; the app stops without committing past "
                "the event it failed on"
            ),
            cause=exc,
        )

    async def _yielded(self, value: Any) -> None:
        """A value the agent yielded: to every sink, and to the asker of a request."""
        self.app.worker.collect(self.name, value)
        for sink in self.sink:
            if callable(sink) and not hasattr(sink, "send"):
                r = sink(value)
                if inspect.isawaitable(r):
                    await r
            else:
                await sink.send(value=value)
        item = _current_item()
        if isinstance(item, Event):
            reply_to = item.reply_to
            if reply_to is not None:
                await item.send(reply_to, key=item.correlation_id, value=value, headers={})

    # -- sending to the agent -----------------------------------------------------------------

    async def send(
        self, value: Any = None, *, key: Any = None, partition: int | None = None
    ) -> Any:
        """Send ``value`` to the agent's channel."""
        return await self._channel.send(key=key, value=value, partition=partition)

    async def ask(
        self,
        value: Any = None,
        *,
        key: Any = None,
        partition: int | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Send ``value`` and wait for the agent's reply (request/reply).

        The agent replies by yielding a result while processing the request, or by sending
        ``event.send(event.reply_to, key=event.correlation_id, value=result)``.

        Raises:
            AskTimeoutError: no reply within ``timeout`` seconds.
        """
        replies = self.app.worker.replies
        await replies.ensure_started()
        cid = correlation_id or uuid.uuid4().hex
        fut = replies.expect(cid)
        try:
            await self._channel.send(
                key=key,
                value=value,
                partition=partition,
                headers={
                    REPLY_TO_HEADER: reply_to or replies.topic_name,
                    CORRELATION_ID_HEADER: cid,
                },
            )
        except BaseException:
            replies.forget(cid)  # nothing was sent: nobody waits for a reply
            raise
        return await replies.wait(cid, fut, timeout)

    def cast(self, value: Any = None, *, key: Any = None, partition: int | None = None) -> Any:
        """Send without waiting (fire-and-forget); callable from sync code on the app's loop
        or from another thread while the app runs. Returns the scheduled task/future."""
        coro = self.send(value, key=key, partition=partition)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        worker = self.app.worker
        app_loop = worker.loop
        if loop is not None and (app_loop is None or loop is app_loop):
            return worker.spawn(self._cast(coro), f"cast:{self.name}", critical=False, finish=True)
        if app_loop is not None and app_loop.is_running():
            return asyncio.run_coroutine_threadsafe(coro, app_loop)
        coro.close()
        raise AppStateError(
            "cast() needs a running event loop (the app's); from async code use "
            "`await agent.send(...)`"
        )

    async def _cast(self, send: Awaitable[Any]) -> Any:
        try:
            return await send
        except Exception as exc:
            log.error("cast_failed", agent=self.name, error=repr(exc))
            raise

    def __repr__(self) -> str:
        return f"<Agent {self.name} channel={self._channel!r} concurrency={self._concurrency}>"

    def _repr_html_(self) -> str:
        rows = [
            ("channel", getattr(self._channel, "name", repr(self._channel))),
            ("concurrency", self._concurrency),
            ("running", self.running),
            ("restarts", self.restarts),
            ("on_error", self.on_error if isinstance(self.on_error, str) else "function"),
            ("supervisor", self.supervisor_strategy),
        ]
        if self._help:
            rows.append(("help", self._help.splitlines()[0]))
        return html_table(("", ""), rows, caption=f"Agent {self.name}")


def _redeliver(item: Any) -> None:
    for e in item if type(item) is list else [item]:
        if isinstance(e, Event):
            e._redeliver()
