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
from typing import TYPE_CHECKING, Any, Generic, TextIO, TypeVar, cast, overload

import reactivex
from reactivex.abc import SchedulerBase

from ._context import StreamContext
from ._display import esc
from ._lineage import lineage
from .errors import AppStateError, ArgumentTypeError
from .events import Event
from .faust_names import refuse
from .operators._fused import Step, check_function, fused
from .operators._map import map as map_operator
from .runtime.bridge import Bridge

if TYPE_CHECKING:
    from .agents import Agent
    from .app import App
    from .channels import Channel
    from .operators._group_by import GroupedStream
    from .runtime.source import Source
    from .topics import Topic

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

    if not TYPE_CHECKING:  # a Faust name rxstreams lacks gets a hint; type checkers see none

        def __getattr__(self, name: str) -> Any:
            refuse(self, name)

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
        from reactivex import operators as ops

        from .operators._take import take

        why = f"take({max_})" if within is None else f"take({max_}, within={within})"
        ctx = self.ctx
        return self._with(
            self._observable.pipe(
                take(max_, within=within, scheduler=scheduler),
                ops.do_action(on_completed=lambda: ctx.end(why)),
            )
        )

    def take_events(
        self, max_: int, within: float | None = None, *, scheduler: SchedulerBase | None = None
    ) -> AsyncIterator[list[Event[Any, T]]]:
        """Faust's ``take_events``: iterate lists of up to ``max_`` Events, each list
        yielded once full or ``within`` seconds after its first event.

        The same as ``buffer(max_, timeout=within).events()``. (Here :meth:`take` limits a
        stream; :meth:`buffer` yields lists of values.)

        Args:
            max_: the most events per list (at least 1).
            within: seconds the first event of a partial list waits at most (None: lists
                are only yielded full, or when the stream ends).
            scheduler: the scheduler of the timeout (default: the running loop's).

        Returns:
            An async iterator of lists of Events.

        Acks:
            Each event of a list is acked when the iterator moves past the list (unless
            the stream is :meth:`noack`; then each is acked by ``event.ack()``).

        Errors:
            As :meth:`buffer`.
        """
        batches: Any = self.buffer(max_, timeout=within, scheduler=scheduler).events()
        return cast(AsyncIterator[list[Event[Any, T]]], batches)

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

    # -- operators that need the stream (its app, its sources) ---------------------------------

    def group_by(
        self,
        key: Callable[[T], Any],
        *,
        name: str | None = None,
        topic: Topic[Any, Any] | str | None = None,
        idle_timeout: float | None = 300.0,
        scheduler: SchedulerBase | None = None,
    ) -> GroupedStream[Any, T]:
        """Group the events by ``key(value)``: ``(key, substream)`` pairs.

        ::

            --a1--b1--a2--------------b2--|
            group_by(lambda v: v[0])
            --(a,A)--(b,B)----------------|
            A: --a1------a2----|            (a's group ended: idle for idle_timeout)
            B: ------b1---------------b2--|

        A pair comes when a key is first seen (or seen again after its group ended); its
        substream is a Stream of that key's events, sharing the app, sources and error
        policy. A group ends after ``idle_timeout`` seconds without an event (checked four
        times per ``idle_timeout``: no per-event timer), so memory stays bounded.

        Iterate the groups concurrently with :meth:`GroupedStream.each`. A nested
        ``async for key, sub in grouped: async for e in sub: ...`` never leaves the first
        group (a substream of a topic does not end until the group is idle), while the other
        groups' events pile up in flight until the topic pauses.

        With ``name=`` or ``topic=`` the events are first re-keyed through an internal topic
        (``<source>-<name>-repartition``, or ``topic``) with the source topic's partition
        count: a task of the app reads the stream and sends each value with key
        ``key(value)`` (and the event's headers and timestamp); the grouping is done on the
        internal topic's stream, so each key is grouped by the one worker owning its
        partition. It starts when the grouped stream is first iterated.

        Args:
            key: called with each value; returns the group key.
            name: repartition through ``<source>-<name>-repartition``.
            topic: repartition through this topic (a name or a Topic; wins over ``name``).
            idle_timeout: seconds without an event after which a group ends (its substream
                completes) and is forgotten (None: groups never end).
            scheduler: the scheduler of the idle checks (default: the running loop's).

        Returns:
            A :class:`~rxstreams.GroupedStream` of ``(key, substream)`` pairs.

        Acks:
            An event stays in flight until its substream's consumer moves past it. Events
            of a group whose substream is not iterated yet are held, and count against
            ``stream_buffer_maxsize``: a group nobody iterates (while its substream is
            kept) eventually pauses the whole topic, every group included. A substream let
            go of without being iterated drops its group (events acked, as a filter does)
            until the group ends (``async for key, sub in grouped`` holds the latest pair
            until the next one comes, so that group is held meanwhile); after a
            substream's consumer stopped (``break``, a ``take``), its group's further
            events are dropped the same way. With repartitioning, the source event is acked
            once its record is queued for sending (the app flushes the producer before it
            commits), and the record's event follows the rule above.

        Errors:
            :class:`~rxstreams.errors.ArgumentTypeError` when ``key`` is not callable.
            :class:`~rxstreams.errors.ConfigurationError`: a bad ``idle_timeout``;
            repartitioning a stream that does not read exactly one topic; an internal topic
            declared (in the app, or found on the broker) with another partition count than
            the source topic (they must be co-partitioned). An exception from ``key`` goes
            to the agent's error policy; by default it fails the stream.
        """
        from .operators._group_by import group_by_

        check_function(key, "group_by")
        return group_by_(
            self, key, name=name, topic=topic, idle_timeout=idle_timeout, scheduler=scheduler
        )

    def through(self, channel: Topic[Any, Any] | Channel[Any, Any] | Agent[Any] | str) -> Stream[T]:
        """Send every event to ``channel`` and continue from what arrives there (Faust's
        ``through``).

        ::

            in:   --a--b--c--|
            through(topic)            (a, b, c are sent to topic)
            out:  ----a--b--c-->      (the stream of topic, as any reader of it sees it)

        The forwarding starts the first time the returned stream (or one derived from it)
        is subscribed, once, as a task of the app, and runs until the app stops (or this
        stream ends): a ``through`` whose stream nobody iterates forwards nothing. The
        returned stream reads *everything* that arrives in ``channel``, not only what this
        stream sent. Each event's key, value, headers and timestamp are sent; an item that
        is not an event (a ``group_by`` pair) is sent as a value.

        Args:
            channel: a Topic, a Channel, an Agent (its channel) or a topic name.

        Returns:
            ``channel.stream()``, sharing this stream's error policy.

        Acks:
            To a topic: an event is acked once its send is queued (the app flushes the
            producer before committing the offsets that led to it). To a channel: the event
            itself is delivered, token included, so its message is committed only after
            the channel's stream processed it (a crash loses nothing held in memory).

        Errors:
            A target that is not a topic, channel, agent or name raises
            :class:`~rxstreams.errors.ConfigurationError` at once. A failed send stops the
            app without committing the event; an error of this stream's pipeline fails the
            app.
        """
        from .operators._through import through_

        return through_(self, channel)

    def echo(
        self,
        *channels: Topic[Any, Any] | Channel[Any, Any] | Agent[Any] | str,
        file: TextIO | None = None,
    ) -> Stream[T]:
        """Print each value, or forward each event to ``channels``; events pass unchanged.

        ::

            --a--b--|
            echo()                      (prints a, then b)
            --a--b--|

            --a--b--|
            echo(ch)                    (ch gets a, then b)
            --a--b--|

        With no channels, each value is printed (a batch as a list of values). With
        channels, each event's key, value, headers and timestamp are also sent to every
        channel, in order, from one task per subscription; items that are not events are
        sent as values. Give ``file`` as well to print too.

        Args:
            *channels: where to forward events to: Topics, Channels, Agents (their
                channel) or topic names.
            file: where to print (default: standard output at the time of printing).

        Returns:
            A new Stream of the same events.

        Acks:
            Echo never acks or drops anything itself. With channels, each event's message
            also stays in flight until its sends are queued (a topic; the app flushes
            before committing) or the channel's stream processed it (a channel gets the
            event itself with a token of its own), so a crash cannot lose a forward.

        Errors:
            A channel that is not a topic, channel, agent or topic name raises
            :class:`~rxstreams.errors.ConfigurationError` at once. A failed send (a value
            the topic cannot serialize) stops the app; that event is not committed.
        """
        from .operators._echo import echo_

        return echo_(self, *channels, file=file)

    @overload
    def join(
        self,
        other: Stream[U],
        /,
        *,
        within: float,
        key: Callable[[Any], Any] | None = None,
        scheduler: SchedulerBase | None = None,
    ) -> Stream[tuple[T, U]]: ...

    @overload
    def join(
        self,
        *streams: Stream[Any],
        within: float,
        key: Callable[[Any], Any] | None = None,
        scheduler: SchedulerBase | None = None,
    ) -> Stream[tuple[Any, ...]]: ...

    def join(
        self,
        *streams: Stream[Any],
        within: float,
        key: Callable[[Any], Any] | None = None,
        scheduler: SchedulerBase | None = None,
    ) -> Stream[tuple[Any, ...]]:
        """Keyed, time-windowed inner join (Kafka Streams' KStream-KStream join): tuples of
        values with the same key whose event times are ``within`` seconds apart.

        ::

            this:   --a1---------b1-------a3--|      (letter: key, digit: event time)
            other:  -----a2--b9---------------|
            join(other, within=2)
            --------(a1,a2)-----------(a3,a2)-|      (b1 and b9 are 8 s apart)

        For every event of any input, one tuple is emitted for each combination of events
        of the *other* inputs that have the same key (``key(value)``, else the event's key)
        and whose event timestamps, with its own, all lie within ``within`` seconds of each
        other. A tuple holds the values in input order: this stream's, then ``streams``' in
        order. Each combination is emitted once, when its last event arrives.

        Each input keeps a window: key -> events. An event leaves its window once no event
        still to come can join it: when every *other* input has seen an event more than
        ``within`` seconds newer (inputs are fetched in batches, so one input running ahead
        of another does not push the other's events out). An event that arrives when its
        partners would already have left (late) is joined with what the windows hold, but
        not kept. Events whose key is None never match (as in Kafka Streams).

        Inputs that go quiet: an input with no event for a whole ``within`` seconds of the
        scheduler's time no longer holds the others' windows back, and when every input is
        quiet, event time is taken to advance by ``within`` per such period; so once the
        inputs stop, the windows are empty within about three ``within`` periods and memory
        stays bounded. (Events of an input that was quiet and comes back late may then miss
        partners, as with Kafka Streams' ``max.task.idle.ms``.)

        Args:
            *streams: one or more other inputs (Streams of the same app).
            within: the largest difference of event time, in seconds (> 0), that still
                joins.
            key: the join key of a value (default: the event's key); must be hashable.
            scheduler: the scheduler of the idle timer (default: the running loop's).

        Returns:
            A new Stream of tuples of values. Each tuple is an Event whose key is the join
            key and whose timestamp is the newest of its inputs'.

        Acks:
            An input event stays in flight while it is in a window (a crash does not lose
            it) and is acked when it leaves (or at once, after its tuples, when it is late
            or its key is None). Each tuple holds a token on every input event it came
            from, so none of their offsets is committed before the tuple is processed. Held
            events count towards ``stream_buffer_maxsize``: a window that holds that many
            events of one input pauses its fetching until the other inputs or the idle
            timer move event time on (logged once as ``join_window_full``; the timer
            guarantees progress).

        Errors:
            At once: :class:`~rxstreams.errors.ConfigurationError` for ``within`` not > 0,
            no other stream, or a stream of another app;
            :class:`~rxstreams.errors.ArgumentTypeError` for an input that is not a Stream
            or a ``key`` that is not callable. An exception from ``key`` (or an unhashable
            key) goes to the agent's error policy; by default the stream fails and that
            event is not committed. Batches (lists, from ``buffer``) fail the stream with
            :class:`~rxstreams.errors.ArgumentTypeError`.
        """
        from .operators._join import join_

        return join_(self, streams, key=key, within=within, scheduler=scheduler)

    @overload
    def combine(self, *streams: Stream[T]) -> Stream[T]: ...

    @overload
    def combine(self, *streams: Stream[Any]) -> Stream[Any]: ...

    def combine(self, *streams: Stream[Any]) -> Stream[Any]:
        """Merge with other streams: every item of each, as it arrives.

        ::

            --a-----b-----c--|
            ----1-----2------|
            combine
            --a-1---b-2---c--|

        Args:
            *streams: one or more other Streams of the same app.

        Returns:
            A new Stream of all their items (built on ``reactivex.merge``), reading the
            sources of all of them; it ends when every one of them has ended. Typed
            ``Stream[T]`` when every stream is, else ``Stream[Any]``.

        Acks:
            Unchanged: each item keeps the token it came with.

        Errors:
            No other stream, or a stream of another app:
            :class:`~rxstreams.errors.ConfigurationError` at once; something that is not a
            Stream: :class:`~rxstreams.errors.ArgumentTypeError`. An error of any input
            errors the combined stream.
        """
        from .operators._combine import combine_

        return combine_(self, streams)

    @overload
    def concat(self, *streams: Stream[T]) -> Stream[T]: ...

    @overload
    def concat(self, *streams: Stream[Any]) -> Stream[Any]: ...

    def concat(self, *streams: Stream[Any]) -> Stream[Any]:
        """This stream's items; once it ends, each of ``streams``' items in turn.

        ::

            --a--b--|
                     --1--2--|
            concat
            --a--b-----1--2--|

        Topic streams are hot and only end through ``take``, ``within`` and the like: a
        stream that never ends keeps the next ones waiting forever.

        A later stream is subscribed only when its turn comes. Until then, what its topic
        or channel receives is *held* by the app (not lost, not acked) as long as no other
        stream reads that topic or channel: held messages count as in flight, so fetching
        of that topic pauses at ``stream_buffer_maxsize`` (a channel's senders wait), and
        everything held is delivered when the turn comes. If another stream does read it,
        the messages delivered before the turn went to that stream only: this one sees
        what arrives after its turn came, like any stream created late (and the other
        stream's acks decide what is committed).

        Args:
            *streams: the streams that follow, in order, of the same app.

        Returns:
            A new Stream of their items in that order (built on ``reactivex.concat``).
            Typed ``Stream[T]`` when every stream is, else ``Stream[Any]``.

        Acks:
            Unchanged: each item keeps the token it came with; a later stream's messages
            held before its turn stay in flight (uncommitted) until delivered and
            processed.

        Errors:
            No other stream, or a stream of another app:
            :class:`~rxstreams.errors.ConfigurationError` at once; something that is not a
            Stream: :class:`~rxstreams.errors.ArgumentTypeError`. An error of the running
            stream errors the concatenation.
        """
        from .operators._concat import concat_

        return concat_(self, streams)

    def tee(self, *channels: Topic[Any, Any] | Channel[Any, Any] | Agent[Any] | str) -> Stream[T]:
        """Also deliver every event to each of ``channels``, with one ack reference per
        branch; returns this stream's events.

        ::

            --a--b--|
            tee(ch, topic)
            --a--b--|          (the main branch: this stream's events)
            ch:     --a--b-->  (the same events, for the channel's readers)
            topic:  --a--b-->  (copies: key, value, headers, timestamp)

        A channel gets the event itself (a view of the same message, with a token of its
        own): its readers see the original message (``event.message``), and they are
        waited for before the message is committed. The channel's flow control applies:
        while it is full, its events queue (in order) and the main branch goes on, until
        the source this stream reads pauses at ``stream_buffer_maxsize`` messages in
        flight. A topic gets a copy, sent from one task per subscription.

        The branches are fed while the main branch is subscribed (an agent iterates it, or
        a stream derived from it): a tee nobody iterates delivers nothing. In a batch
        (after ``buffer``) each event is teed; an item that is not an event goes to the
        main branch and is sent to each branch as a value.

        Args:
            *channels: one or more Channels, Topics, Agents (their channel) or topic names.

        Returns:
            The main branch: a new Stream of this stream's events (each one a view with
            its own token).

        Acks:
            One reference per branch, taken before fan-out: a message is committed once
            the main branch processed it, every channel branch's reader processed it, and
            every topic branch's send is queued (the app flushes before committing). A
            stuck branch holds the commit back.

        Errors:
            No branches, or a branch that is not a channel, topic, agent or name:
            :class:`~rxstreams.errors.ConfigurationError` at once. A failed send stops the
            app without committing that event.
        """
        from .operators._tee import tee_

        return tee_(self, channels)

    # -- iteration ----------------------------------------------------------------------------

    def _get_bridge(self) -> Bridge:
        bridge = self._bridge
        if bridge is None:
            bridge = self._bridge = Bridge(self._observable)
            bridge.on_failure = self._on_failure
            self.app.worker.bridges.add(bridge)
        return bridge

    def _on_failure(self, exc: BaseException) -> None:
        self.app.worker.stream_failed(self.sources)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._get_bridge().iterate(0, self.ctx.auto_ack)

    def stream(self) -> Stream[T]:
        """This stream, as the input of an agent: ``@app.agent(table.changes())`` or
        ``@app.agent(topic.stream().filter(...))`` reads it (a Stream is read once: give
        each agent a stream of its own)."""
        return self

    def events(self) -> AsyncIterator[Event[Any, T]]:
        """Iterate over the Events themselves: key, value, headers, timestamp, message.

        Returns:
            An async iterator of :class:`~rxstreams.Event` objects (after :meth:`buffer`,
            lists of them).

        Acks:
            Each event is acked when the iterator moves past it, unless the stream is
            :meth:`noack`; ``event.ack()`` (or :meth:`ack`) acks it earlier.

        Errors:
            As iterating the stream: an error of the pipeline goes to the error policy of
            the agent iterating it (by default the stream fails, that event uncommitted).
        """
        return self._get_bridge().iterate(1, self.ctx.auto_ack)

    def items(self) -> AsyncIterator[tuple[Any, T]]:
        """Iterate over ``(key, value)`` pairs (Faust's ``items``).

        Returns:
            An async iterator of ``(event.key, event.value)`` tuples.

        Acks:
            As iterating the stream: each event is acked when the iterator moves past
            its pair (not on a :meth:`noack` stream).

        Errors:
            As iterating the stream.
        """
        return self._get_bridge().iterate(2, self.ctx.auto_ack)

    async def enumerate(self, start: int = 0) -> AsyncIterator[tuple[int, T]]:
        """Iterate over ``(n, value)`` pairs, ``n`` counting from ``start`` (Faust's
        ``enumerate``).

        Args:
            start: the number of the first value.

        Returns:
            An async iterator of ``(n, value)`` tuples.

        Acks:
            Unchanged: as iterating the stream itself (each event acked when the loop
            moves past its pair; not on a :meth:`noack` stream).

        Errors:
            As iterating the stream.
        """
        n = start
        async for value in self:
            yield n, value
            n += 1

    def noack(self) -> Stream[T]:
        """This stream's events, without automatic acks (Faust's ``noack``).

        ::

            async for event in stream.noack().events():
                batch.append(event)
                if len(batch) == 100:
                    await write(batch)
                    for e in batch:
                        e.ack()  # or stream.ack(e)
                    batch.clear()

        Returns:
            A new Stream of the same events; streams derived from it are noack too, and
            the error policy of the agent iterating this stream applies to it.

        Acks:
            Moving past an event does not ack it: only ``event.ack()`` (or
            :meth:`ack`) does. An event never acked is never committed, nor is anything
            after it on its partition, and it counts as in flight (``stream_buffer_maxsize``
            pauses fetching once too many are held), even once nothing references it.

        Errors:
            None at once; errors of the pipeline go to the agent's error policy, as for
            the stream it was made from.
        """
        ctx = StreamContext(self.ctx, auto_ack=False)
        return Stream(observable=self._observable, app=self.app, sources=self.sources, ctx=ctx)

    def ack(self, event: Event[Any, Any]) -> bool:
        """Ack ``event`` (Faust's ``stream.ack``): the same as ``event.ack()``.

        Args:
            event: an event this stream (or a :meth:`noack` one) delivered.

        Returns:
            True if this call acked it (False: it was acked already, or its partition
            moved to another worker).

        Acks:
            Releases this stream's reference to the event; the offset is committed once
            it and every earlier offset of its partition are acked.

        Errors:
            None of its own: acking twice returns False.
        """
        return event.ack()

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
