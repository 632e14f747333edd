"""Agent: an ``async def`` that consumes a stream, run by the app as one or more tasks."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._bridge import pin
from .errors import AgentError, AppStateError
from .events import _current
from .log import get_logger
from .streams import Stream

if TYPE_CHECKING:
    from .app import App

__all__ = ("Agent",)

T = TypeVar("T")

log = get_logger(__name__)

AgentFun = Callable[[Stream[T]], Awaitable[None] | AsyncIterator[Any]]


class Agent(Generic[T]):
    """Stream processing agent: ``fun(stream)`` run by the app over ``channel``.

    Args:
        fun: ``async def fun(stream)``, or an async generator whose yields go to ``sink``.
        app: the app the agent belongs to.
        channel: the topic or channel consumed (default: a topic named after the agent).
        name: the agent's name (default: the function's qualified name).
        concurrency: how many instances iterate the one stream at once.
        sink: where yielded values go (channels, topics, agents or callables).
        on_error: called with ``(agent, exc)`` when an instance raises.
        supervisor_strategy: what happens to the other instances when one fails.
        help: text for the CLI.
    """

    def __init__(
        self,
        fun: AgentFun[T],
        *,
        app: App,
        channel: Any = None,
        name: str | None = None,
        concurrency: int = 1,
        sink: list[Any] | None = None,
        on_error: Callable[..., Any] | None = None,
        supervisor_strategy: str | None = None,
        help: str | None = None,
        **kwargs: Any,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency}")
        self.fun = fun
        self.app = app
        self.name = name or f"{fun.__module__}.{fun.__qualname__}"
        self._channel = channel if channel is not None else app.topic(self.name)
        self._concurrency = concurrency
        self.sink = list(sink or ())
        self.on_error = on_error
        self.supervisor_strategy = supervisor_strategy
        self._help = help or (inspect.getdoc(fun) or "")
        self._tasks: list[asyncio.Task[None]] = []
        self._stream: Stream[T] | None = None
        self.processed_batches = 0

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
        """The stream the instances share (created on start)."""
        if self._stream is None:
            self._stream = self._channel.stream()
        return self._stream

    def __call__(self, stream: Stream[T]) -> Awaitable[None] | AsyncIterator[Any]:
        return self.fun(stream)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the agent's instances (the app does this on start)."""
        if self._tasks:
            return
        stream = self.stream
        for i in range(self._concurrency):
            task = asyncio.create_task(self._run(stream, i), name=f"agent:{self.name}#{i}")
            self._tasks.append(task)

    async def stop(self) -> None:
        """Cancel the instances and wait for them to end."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def cancel(self) -> None:
        """Cancel the instances without waiting."""
        for t in self._tasks:
            t.cancel()

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def _run(self, stream: Stream[T], index: int) -> None:
        try:
            result = self.fun(stream)
            if inspect.isasyncgen(result):
                async for value in result:
                    await self._to_sinks(value)
            else:
                await result  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            item = _current.get()
            if item is not None:
                pin(item)
            self._failed(exc, index)
        else:
            log.debug("agent_finished", agent=self.name, instance=index)

    def _failed(self, exc: Exception, index: int) -> None:
        log.error("agent_failed", agent=self.name, instance=index, error=repr(exc))
        if self.on_error is not None:
            self.on_error(self, exc)
        self.app._crash(
            AgentError(
                f"agent {self.name} raised {exc!r}; the app stops without committing "
                "past the event it failed on"
            ),
            cause=exc,
        )

    async def _to_sinks(self, value: Any) -> None:
        for sink in self.sink:
            if callable(sink) and not hasattr(sink, "send"):
                r = sink(value)
                if inspect.isawaitable(r):
                    await r
            else:
                await sink.send(value=value)

    # -- sending to the agent -----------------------------------------------------------------

    async def send(
        self, value: Any = None, *, key: Any = None, partition: int | None = None
    ) -> Any:
        """Send ``value`` to the agent's channel."""
        return await self._channel.send(key=key, value=value, partition=partition)

    async def ask(self, value: Any = None, *, key: Any = None, **kwargs: Any) -> Any:
        """Send and wait for the reply (request/reply)."""
        raise AppStateError("ask() is not available yet")

    def cast(self, value: Any = None, *, key: Any = None, partition: int | None = None) -> Any:
        """Send without waiting (fire-and-forget); callable from sync code."""
        raise AppStateError("cast() is not available yet")

    def __repr__(self) -> str:
        return f"<Agent {self.name} channel={self._channel!r} concurrency={self._concurrency}>"
