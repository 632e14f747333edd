"""Stream: a hot Observable of Events with Faust's stream API on top.

A Stream *holds* an Observable (it does not subclass one: reactivex's own fluent
``filter``/``map`` know nothing of acks). Its methods return new Streams built with the
operators in :mod:`rxstreams.operators`; :meth:`Stream.pipe` takes any reactivex operator;
:attr:`Stream.observable` is the raw Observable of Events.

Iterating a stream (``async for value in stream``) goes through the async-iterator bridge;
each step the agent finishes acks the event it was given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import reactivex

from ._bridge import Bridge
from .events import Event
from .operators import filter_, map_

if TYPE_CHECKING:
    from ._source import Source
    from .app import App

__all__ = ("Stream",)

T = TypeVar("T")
U = TypeVar("U")


class Stream(Generic[T]):
    """A stream of values of type ``T`` (carried as Events, so acks follow them).

    Args:
        channel: a Topic or Channel to stream from.
    """

    def __init__(
        self,
        channel: Any = None,
        *,
        observable: reactivex.Observable[Any] | None = None,
        app: App | None = None,
        sources: Iterable[Source] = (),
        **kwargs: Any,
    ) -> None:
        if channel is not None:
            base: Stream[T] = channel.stream(**kwargs)
            observable, app, sources = base.observable, base.app, base.sources
        if observable is None or app is None:
            raise TypeError("Stream() needs a channel or topic to stream from")
        self._observable: reactivex.Observable[Any] = observable
        self.app: App = app
        #: the topic/channel sources this stream reads
        self.sources: frozenset[Source] = frozenset(sources)
        self._bridge: Bridge | None = None

    # -- composition --------------------------------------------------------------------------

    @property
    def observable(self) -> reactivex.Observable[Any]:
        """The raw hot Observable; its items are Events (or lists of them, after buffer)."""
        return self._observable

    def _with(self, observable: reactivex.Observable[Any]) -> Stream[Any]:
        return Stream(observable=observable, app=self.app, sources=self.sources)

    def pipe(self, *operators: Callable[[Any], Any]) -> Stream[Any]:
        """Apply reactivex operators to the Observable of Events (their items are Events).

        Events an operator drops are acked when released; events it holds stay in flight.
        """
        return self._with(self._observable.pipe(*operators))

    def filter(self, fun: Callable[[T], bool]) -> Stream[T]:
        """Keep the values for which ``fun`` is true; dropped events are acked."""
        return self._with(self._observable.pipe(filter_(fun)))

    def map(self, fun: Callable[[T], U]) -> Stream[U]:
        """Transform each value with ``fun``; the ack follows the new value."""
        return self._with(self._observable.pipe(map_(fun)))

    # -- iteration ----------------------------------------------------------------------------

    def _get_bridge(self) -> Bridge:
        bridge = self._bridge
        if bridge is None:
            bridge = self._bridge = Bridge(self._observable)
            bridge.on_failure = self._on_failure
            self.app._bridges.add(bridge)
        return bridge

    def _on_failure(self, exc: BaseException) -> None:
        self.app._stream_failed(self.sources, exc)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._get_bridge().iterate(0)

    def events(self) -> AsyncIterator[Event[Any, T]]:
        """Iterate over the Events themselves (``event.ack()`` is then up to you, or automatic)."""
        return self._get_bridge().iterate(1)

    def items(self) -> AsyncIterator[tuple[Any, T]]:
        """Iterate over ``(key, value)`` pairs."""
        return self._get_bridge().iterate(2)

    @property
    def bridge(self) -> Bridge:
        """The async-iterator bridge of this stream (created on first iteration)."""
        return self._get_bridge()

    def __repr__(self) -> str:
        names = ",".join(sorted(s.name for s in self.sources))
        return f"<Stream of {names or '?'}>"
