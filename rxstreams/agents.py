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
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from ._display import html_table
from .codecs import codec_for
from .errors import AgentError, AppStateError, ArgumentTypeError, ConfigurationError
from .events import CORRELATION_ID_HEADER, REPLY_TO_HEADER, Event, _current_item
from .faust_names import refuse
from .logging import _agent_name, get_logger
from .runtime.dead_letter import dead_letter_event, dead_letter_record
from .runtime.tokens import holds, pin, unpin
from .streams import Stream

if TYPE_CHECKING:
    from .app import App
    from .testing import AgentTestContext

__all__ = ("Agent", "ErrorAction", "SupervisorStrategy")

T = TypeVar("T")

log = get_logger(__name__)

AgentFun = Callable[[Stream[T]], Awaitable[None] | AsyncIterator[Any]]
ErrorAction = Literal["crash", "skip", "retry", "dead_letter"]
SupervisorStrategy = Literal["one_for_one", "one_for_all", "crash"]
OnError = ErrorAction | Callable[..., Any]

_ACTIONS = ("crash", "skip", "retry", "dead_letter")
_STRATEGIES = ("one_for_one", "one_for_all", "crash")


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _drop(asks: list[asyncio.Future[Any]]) -> None:
    """Cancel the asks still waiting, and wait for them (their errors are retrieved: the
    first one was raised already)."""
    for a in asks:
        a.cancel()
    if asks:
        await asyncio.wait(asks)
        for a in asks:
            if not a.cancelled():
                a.exception()


async def _with_key(key: Any, values: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    async for value in _aiter(values):
        yield key, value


def _topic_name(agent_name: str) -> str:
    """The default topic of an agent: its name, without ``<locals>`` parts and with any
    character a topic name cannot have replaced by ``_``."""
    name = agent_name.replace(".<locals>", "")
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:249]


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
        if not (inspect.iscoroutinefunction(fun) or inspect.isasyncgenfunction(fun)):
            raise ConfigurationError(
                f"an agent is an `async def` function (a coroutine or an async generator), "
                f"not {fun!r}: write `async def {getattr(fun, '__name__', 'agent')}(stream): "
                "async for value in stream: ...`"
            )
        self.fun = fun
        self.app = app
        self.name = name or f"{fun.__module__}.{fun.__qualname__}"
        if channel is None:
            channel = app.topic(_topic_name(self.name))
        elif isinstance(channel, str):
            channel = app.topic(channel)  # Faust accepts a topic name
        elif not callable(getattr(channel, "stream", None)):
            raise ArgumentTypeError(
                f"@app.agent() reads a Topic, a Channel, a Stream or a topic name, not {channel!r}"
            )
        self._channel = channel
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
            self._returned(index)
            return

    def _returned(self, index: int) -> None:
        """An instance's function returned: say so (and why) if the app still runs, since
        the agent's channel is then read by nobody."""
        if self.app.state != "running":
            log.debug("agent_finished", agent=self.name, instance=index)
            return
        ended = self.stream.ctx.ended
        if ended is not None and ended.startswith("take("):
            reason = (
                f"its stream ended after {ended}: take() limits a stream here; for batches "
                "(Faust's take) write stream.buffer(size, timeout=seconds)"
            )
        elif ended is not None:
            reason = f"its stream ended after {ended}"
        else:
            reason = "its function returned"
        log.warning("agent_returned", agent=self.name, instance=index, reason=reason)

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
        send = getattr(self._channel, "send", None)
        if send is None:
            raise ArgumentTypeError(
                f"agent {self.name} reads a stream ({self._channel!r}), which cannot be "
                "sent to: send to the topic or channel that stream comes from"
            )
        return await send(key=key, value=value, partition=partition)

    async def ask(
        self,
        value: Any = None,
        *,
        key: Any = None,
        partition: int | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        timeout: float = 30.0,
        reply_type: Any = None,
    ) -> Any:
        """Send ``value`` and wait for the agent's reply (request/reply).

        The agent replies by yielding a result while processing the request, or by sending
        ``event.send(event.reply_to, key=event.correlation_id, value=result)``. The reply
        travels as JSON: a Record comes back as a dict unless ``reply_type`` says what to
        decode it into.

        Args:
            value: the request (encoded, and validated, as the agent's channel does).
            key / partition: as :meth:`send`.
            reply_to: the topic the reply goes to (default: the app's reply topic, which
                this app reads).
            correlation_id: the id the reply carries (default: a new UUID).
            timeout: seconds to wait for the reply.
            reply_type: a Record class (or any ``value_type`` a topic takes) to decode the
                reply into; None: the JSON value.

        Raises:
            AppStateError: the app is not running (start it first: ``async with app:``).
            AskTimeoutError: no reply within ``timeout`` seconds.
            CodecError: the request does not encode (nothing is sent), or the reply does
                not decode as ``reply_type``.
        """
        if self.app.state != "running":
            raise AppStateError(
                f"ask() needs the app running to read the reply, and app {self.app.id} is "
                f"{self.app.state}: ask inside `async with app:` (or after `await app.start()`)"
            )
        codec = None if reply_type is None else codec_for(reply_type, "json")
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
        return await replies.wait(cid, fut, timeout, codec)

    async def map(
        self,
        values: Iterable[Any] | AsyncIterable[Any],
        key: Any = None,
        *,
        timeout: float = 30.0,
        reply_type: Any = None,
    ) -> AsyncIterator[Any]:
        """Ask the agent about every value at once; yield the replies as they arrive
        (Faust's ``Agent.map``). Every request carries ``key``. See :meth:`join` for the
        replies in order."""
        async for reply in self.kvmap(
            _with_key(key, values), timeout=timeout, reply_type=reply_type
        ):
            yield reply

    async def kvmap(
        self,
        items: Iterable[tuple[Any, Any]] | AsyncIterable[tuple[Any, Any]],
        *,
        timeout: float = 30.0,
        reply_type: Any = None,
    ) -> AsyncIterator[Any]:
        """:meth:`map` over ``(key, value)`` pairs: yield the replies as they arrive."""
        asks: list[asyncio.Future[Any]] = []
        try:
            await self._ask_each(items, asks, timeout=timeout, reply_type=reply_type)
            for done in asyncio.as_completed(asks):
                yield await done
        finally:  # an error, or the caller stopped iterating: the other asks are dropped
            await _drop(asks)

    async def join(
        self,
        values: Iterable[Any] | AsyncIterable[Any],
        key: Any = None,
        *,
        timeout: float = 30.0,
        reply_type: Any = None,
    ) -> list[Any]:
        """Ask the agent about every value at once; the replies, in the order of
        ``values`` (Faust's ``Agent.join``). Every request carries ``key``."""
        return await self.kvjoin(_with_key(key, values), timeout=timeout, reply_type=reply_type)

    async def kvjoin(
        self,
        items: Iterable[tuple[Any, Any]] | AsyncIterable[tuple[Any, Any]],
        *,
        timeout: float = 30.0,
        reply_type: Any = None,
    ) -> list[Any]:
        """:meth:`join` over ``(key, value)`` pairs: the replies in their order.

        Raises:
            The first error of an ask (the other asks are cancelled).
        """
        asks: list[asyncio.Future[Any]] = []
        try:
            await self._ask_each(items, asks, timeout=timeout, reply_type=reply_type)
            return list(await asyncio.gather(*asks))
        finally:
            await _drop(asks)

    async def _ask_each(
        self,
        items: Iterable[tuple[Any, Any]] | AsyncIterable[tuple[Any, Any]],
        asks: list[asyncio.Future[Any]],
        *,
        timeout: float,
        reply_type: Any,
    ) -> None:
        """Start an ask per ``(key, value)`` pair, appending each to ``asks`` (which the
        caller drops on its way out)."""
        async for k, v in _aiter(items):
            asks.append(
                asyncio.ensure_future(self.ask(v, key=k, timeout=timeout, reply_type=reply_type))
            )

    def test_context(self) -> AgentTestContext:
        """This agent run alone on a private embedded broker, for unit tests (Faust's
        ``test_context``): ``async with agent.test_context() as tested: event = await
        tested.put(value)``, then ``tested.results[event.message.offset]``. See
        :class:`rxstreams.testing.AgentTestContext`."""
        from .testing import AgentTestContext

        return AgentTestContext(self)

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
