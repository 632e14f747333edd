"""Stream: a hot Observable of Events with Faust's stream API on top.

A Stream *holds* an Observable (it does not subclass one: reactivex's own fluent
``filter``/``map`` know nothing of acks). Its methods return new Streams built with the
operators in :mod:`rxstreams.operators`; :meth:`Stream.pipe` takes any reactivex operator;
:attr:`Stream.observable` is the raw Observable of Events.

Iterating a stream (``async for value in stream``) goes through the async-iterator bridge;
each step the agent finishes acks the event it was given.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import reactivex
from reactivex.abc import SchedulerBase

from ._bridge import Bridge
from ._context import StreamContext
from ._display import esc
from ._lineage import lineage
from .errors import AppStateError, ArgumentTypeError
from .events import Event
from .operators._fused import Step, check_function, fused
from .operators._map import map as map_operator

if TYPE_CHECKING:
    from ._source import Source
    from .app import App
    from .operators._group_by import GroupedStream

__all__ = ("Stream",)

T = TypeVar("T")
U = TypeVar("U")


class Stream(Generic[T]):
    """A stream of values of type ``T`` (carried as Events, so acks follow them).

    Args:
        channel: a Topic or Channel to stream from (the same as ``channel.stream()``).

    Raises:
        ArgumentTypeError: ``channel`` is missing, or not a Topic or a Channel.
    """

    def __init__(
        self,
        channel: Any = None,
        *,
        observable: reactivex.Observable[Any] | None = None,
        app: App | None = None,
        sources: Iterable[Source] = (),
        ctx: StreamContext | None = None,
        **kwargs: Any,
    ) -> None:
        if channel is not None:
            stream_of = getattr(channel, "stream", None)
            if not callable(stream_of):
                raise ArgumentTypeError(f"Stream() streams a Topic or a Channel, not {channel!r}")
            base: Stream[T] = stream_of(**kwargs)
            observable, app, sources, ctx = base.observable, base.app, base.sources, base.ctx
        if observable is None or app is None:
            raise ArgumentTypeError("Stream() needs a Topic or a Channel to stream from")
        self._observable: reactivex.Observable[Any] = observable
        self.app: App = app
        #: the topic/channel sources this stream reads
        self.sources: frozenset[Source] = frozenset(sources)
        #: error handling shared with every stream derived from this one
        self.ctx: StreamContext = ctx if ctx is not None else StreamContext()
        self._bridge: Bridge | None = None
        #: (the observable before a run of filter/map steps, the steps) when this stream
        #: ends with such a run, so one more step fuses into it
        self._fusion: tuple[reactivex.Observable[Any], tuple[Step, ...]] | None = None

    # -- composition --------------------------------------------------------------------------

    @property
    def observable(self) -> reactivex.Observable[Any]:
        """The raw hot Observable; its items are Events (or lists of them, after buffer)."""
        return self._observable

    def _with(
        self, observable: reactivex.Observable[Any], sources: Iterable[Source] = ()
    ) -> Stream[Any]:
        """A stream of ``observable`` that shares this one's app, sources and error policy."""
        return Stream(
            observable=observable,
            app=self.app,
            sources=self.sources.union(sources),
            ctx=self.ctx,
        )

    def pipe(self, *operators: Callable[[Any], Any]) -> Stream[Any]:
        """Apply any reactivex operators to the Observable of Events.

        The operators see :class:`~rxstreams.Event` objects (use ``event.value``; for
        example ``ops.distinct_until_changed(lambda e: e.value)``). The ack contract holds:
        an event an operator drops is acked when it lets go of it, an event it holds
        (buffer, window, delay) stays in flight, and a value an operator computes from an
        event while handling it (scan, reduce steps) carries a reference to that event,
        so the event is not acked before the derived value is processed.
        """
        if not operators:
            return self
        return self._with(lineage(self._observable, operators))

    def filter(self, fun: Callable[[T], bool]) -> Stream[T]:
        """Keep the values for which ``fun`` is true; dropped events are acked.

        Consecutive ``filter``/``map`` steps run as one operator. See
        :func:`rxstreams.operators.filter` for the diagram, the acks and the errors; here an
        exception from ``fun`` goes to the error policy of the agent iterating the stream.

        Args:
            fun: the predicate, called with each value.

        Returns:
            A new Stream of the values that passed.
        """
        check_function(fun, "filter")
        return self._fuse((True, fun))

    def map(self, fun: Callable[[T], U] | Callable[[T], Awaitable[U]]) -> Stream[U]:
        """Transform each value with ``fun`` (plain or ``async``); the ack follows the value.

        Consecutive ``filter``/``map`` steps run as one operator. See
        :func:`rxstreams.operators.map` for the diagram, the acks and the errors; here an
        exception from ``fun`` goes to the error policy of the agent iterating the stream.

        Args:
            fun: the transform, called with each value; an ``async`` one is awaited, one
                event at a time, in order.

        Returns:
            A new Stream of the transformed values.
        """
        check_function(fun, "map")
        if inspect.iscoroutinefunction(fun):
            return self._with(self._observable.pipe(map_operator(fun, self.ctx)))
        return self._fuse((False, fun))

    def _fuse(self, step: Step) -> Stream[Any]:
        """Add a filter/map step: consecutive steps run as one operator (see _fused)."""
        base, steps = self._fusion if self._fusion is not None else (self._observable, ())
        steps = (*steps, step)
        stream = self._with(base.pipe(fused(steps, self.ctx)))
        stream._fusion = (base, steps)
        return stream

    def take(
        self, max_: int, *, within: float | None = None, scheduler: SchedulerBase | None = None
    ) -> Stream[T]:
        """At most ``max_`` items, or what arrives ``within`` seconds; then the stream ends.

        Coming from Faust: Faust's ``take`` yields batches; here batching is :meth:`buffer`.
        See :func:`rxstreams.operators.take` for the diagram, the acks and the errors.

        Args:
            max_: the most items to deliver (at least 1).
            within: end after this many seconds even if fewer items came (None: no limit).
            scheduler: the scheduler of the ``within`` timer (default: the running loop's).

        Returns:
            A new Stream that ends after ``max_`` items or ``within`` seconds.
        """
        from .operators._take import take

        return self._with(self._observable.pipe(take(max_, within=within, scheduler=scheduler)))

    def buffer(
        self, size: int, *, timeout: float | None = None, scheduler: SchedulerBase | None = None
    ) -> Stream[list[T]]:
        """Lists of up to ``size`` values, flushed at least every ``timeout`` seconds.

        See :func:`rxstreams.operators.buffer` for the diagram, the acks and the errors;
        here a ``size`` that could never fill before the sources pause (without a
        ``timeout``) is refused at once.

        Args:
            size: the most values per list (at least 1).
            timeout: seconds the first value of a partial list waits at most (None: lists
                are only emitted full, or when the stream ends).
            scheduler: the scheduler of the timeout (default: the running loop's).

        Returns:
            A new Stream of lists of values.
        """
        from .operators._buffer import buffer

        return self._with(
            self._observable.pipe(
                buffer(
                    size,
                    timeout=timeout,
                    scheduler=scheduler,
                    max_in_flight=min((s.maxsize for s in self.sources), default=None),
                )
            )
        )

    def rate_limit(
        self,
        rate: float,
        *,
        per: float = 1.0,
        within: float | None = None,
        scheduler: SchedulerBase | None = None,
    ) -> Stream[T]:
        """At most ``rate`` items per ``per`` seconds: delays, never drops.

        See :func:`rxstreams.operators.rate_limit` for the diagram, the acks and the errors.

        Args:
            rate: items per ``per`` seconds (> 0).
            per: the period, in seconds (> 0).
            within: the largest burst, in seconds of earning (> 0; default ``per``).
            scheduler: the scheduler of the timer (default: the running loop's).

        Returns:
            A new Stream of the same values, delayed.
        """
        from .operators._rate_limit import rate_limit

        return self._with(
            self._observable.pipe(rate_limit(rate, per=per, within=within, scheduler=scheduler))
        )

    def group_by(
        self,
        key: Callable[[T], Any],
        *,
        name: str | None = None,
        topic: Any = None,
        idle_timeout: float | None = 300.0,
        scheduler: SchedulerBase | None = None,
    ) -> GroupedStream[Any, T]:
        """``(key, substream)`` pairs, one substream per key (see :class:`GroupedStream`).

        With ``name`` or ``topic``, events are first re-keyed through the internal topic
        ``<source>-<name>-repartition`` (or ``topic``), so one key is handled by one worker.
        Groups idle for ``idle_timeout`` seconds end, so memory stays bounded. A ``key``
        that is not callable raises :class:`~rxstreams.errors.ArgumentTypeError` at once.
        """
        from .operators._group_by import group_by_

        check_function(key, "group_by")
        return group_by_(
            self, key, name=name, topic=topic, idle_timeout=idle_timeout, scheduler=scheduler
        )

    def through(self, channel: Any, **kwargs: Any) -> Stream[T]:
        """Send every event to ``channel`` (a topic or channel) and continue from it."""
        from .operators._through import through_

        return through_(self, channel, **kwargs)

    def echo(self, *channels: Any, **kwargs: Any) -> Stream[T]:
        """Print each value (no channels), or forward each event to ``channels``."""
        from .operators._echo import echo_

        return echo_(self, *channels, **kwargs)

    def join(self, *streams: Stream[Any], **kwargs: Any) -> Stream[tuple[Any, ...]]:
        """Keyed, time-windowed join: tuples of values with the same key ``within`` seconds."""
        from .operators._join import join_

        return join_(self, streams, **kwargs)

    def combine(self, *streams: Stream[Any], **kwargs: Any) -> Stream[Any]:
        """Merge with other streams: items as they arrive from any of them."""
        from .operators._combine import combine_

        return combine_(self, streams, **kwargs)

    def concat(self, *streams: Stream[Any], **kwargs: Any) -> Stream[Any]:
        """This stream's items, then (once it ends) each other stream's in turn."""
        from .operators._concat import concat_

        return concat_(self, streams, **kwargs)

    def tee(self, *streams: Any, **kwargs: Any) -> Stream[T]:
        """Also deliver every event to each of ``streams`` (channels or topics), with one ack
        reference per branch; returns this stream."""
        from .operators._tee import tee_

        return tee_(self, streams, **kwargs)

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

    async def to_list(self) -> list[T]:
        """Collect the values of a stream that ends (``stream.take(n)``, ``take(within=)``).

        For notebooks: ``await topic.stream().take(5).to_list()`` while the app runs.
        """
        if self.app.state != "running":
            raise AppStateError(
                f"the app is {self.app.state}: start it first (await app.start()), then "
                "collect from its streams"
            )
        return [v async for v in self]

    def __repr__(self) -> str:
        names = ",".join(sorted(s.name for s in self.sources))
        return f"<Stream of {names or '?'}>"

    def _repr_html_(self) -> str:
        queued = len(self._bridge) if self._bridge is not None else 0
        return (
            f"<p><b>Stream</b> of {esc(', '.join(sorted(s.name for s in self.sources)))} · "
            f"{'iterating' if self._bridge is not None and self._bridge.started else 'idle'}"
            f" · {queued} queued</p>"
        )
