"""group_by: ``(key, substream)`` pairs, one substream per key; idle groups end.

Optionally the events are first re-keyed through an internal topic (repartitioning), so
that every event of one key is handled by the one worker that owns its partition.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from reactivex import GroupedObservable, Observable, abc
from reactivex import operators as ops
from reactivex.disposable import Disposable, SerialDisposable
from reactivex.subject import Subject

from .._context import StreamContext
from ..codecs import DerivedCodec
from ..errors import ConfigurationError, UnsupportedFeatureError
from ..events import Event, _current
from ..faust_names import refuse
from ..runtime.tokens import pin, split
from ..streams import Stream
from ._take import _positive, time_scheduler

if TYPE_CHECKING:
    from ..app import App
    from ..runtime.source import Source
    from ..topics import Topic

__all__ = ("GroupedStream", "group_by_")

K = TypeVar("K")
V = TypeVar("V")

#: idle checks per idle_timeout: a group ends between 1 and 1 + 1/CHECKS idle_timeouts
#: after its last event
CHECKS = 4


def group_by_(
    stream: Stream[Any],
    key: Callable[[Any], Any],
    *,
    name: str | None = None,
    topic: Any = None,
    idle_timeout: float | None = 300.0,
    scheduler: abc.SchedulerBase | None = None,
) -> GroupedStream[Any, Any]:
    """:meth:`Stream.group_by <rxstreams.Stream.group_by>`: ``(key, substream)`` pairs.

    Built on ``reactivex.operators.group_by_until``, with a group subject (:class:`_Group`)
    that keeps the events that come before the substream is iterated (a task started for
    a group begins a step later) and that forwards without Subject's per-item locks; a
    group's lifetime ends after ``idle_timeout`` seconds without an event (checked
    ``CHECKS`` times per ``idle_timeout``: no per-event timer). With ``name`` or ``topic``
    a task of the app first re-keys the events through the internal topic. See the method
    for the diagram, the acks and the errors.
    """
    if idle_timeout is not None and not _positive(idle_timeout):
        raise ConfigurationError(
            f"group_by(idle_timeout=) must be a positive number of seconds or None, "
            f"not {idle_timeout!r}"
        )
    base = stream
    start: Callable[[], None] | None = None
    if name is not None or topic is not None:
        source, through = _repartition_topic(stream, name, topic)
        inner = through.stream()
        base = Stream(
            observable=inner.observable, app=stream.app, sources=inner.sources, ctx=stream.ctx
        )
        start = _once(
            lambda: stream.app.worker.spawn(
                _forward(stream, key, source.name, through), f"repartition:{through.name}"
            )
        )

    observable = _grouped(base, key, idle_timeout, scheduler, start)
    return GroupedStream(observable=observable, app=base.app, sources=base.sources, ctx=base.ctx)


class GroupedStream(Stream[tuple[K, Stream[V]]], Generic[K, V]):
    """A stream of ``(key, substream)`` pairs, from :meth:`rxstreams.Stream.group_by`.

    Iterating it yields the pairs, as Rx's ``group_by`` does; :meth:`each` runs a
    coroutine per group concurrently, which is what grouping a hot stream usually needs.
    """

    async def each(self, fun: Callable[[K, Stream[V]], Awaitable[Any]]) -> None:
        """Run ``await fun(key, substream)`` as a task of its own for every group.

        A task ends when ``fun`` returns: normally when its group ended (the substream
        completes after ``idle_timeout`` seconds without an event). If ``fun`` returns
        earlier, the group ends then: a later event with that key starts a new group and
        a new call. Finished tasks are forgotten, so memory stays bounded. Returns when the
        stream and every task ended (a topic's stream does not end).

        Raises:
            The first exception of a ``fun`` (the other tasks are cancelled first; the
            event it was processing is not acked), or of the grouped stream.
        """
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()
        failed: asyncio.Future[None] = loop.create_future()

        def finished(task: asyncio.Task[Any]) -> None:
            tasks.discard(task)
            if not task.cancelled():
                exc = task.exception()
                if exc is not None and not failed.done():
                    failed.set_exception(exc)

        async def run(key: K, sub: Stream[V]) -> None:
            try:
                await fun(key, sub)
            except Exception:
                item = _current.get()
                if item is not None:
                    pin(item)  # the event it failed on is never acked
                raise
            if isinstance(sub, _Substream):
                sub.group.end()

        async def feed() -> None:
            async for key, sub in self:
                task = loop.create_task(run(key, sub), name=f"group:{key!r}")
                tasks.add(task)
                task.add_done_callback(finished)
            while tasks:  # the stream ended: its groups end too
                await asyncio.wait(list(tasks))

        feeder = loop.create_task(feed(), name="groups")
        try:
            await asyncio.wait((feeder, failed), return_when=asyncio.FIRST_COMPLETED)
            if failed.done():
                failed.result()
            feeder.result()
        finally:
            feeder.cancel()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)
            if not failed.done():
                failed.cancel()
            elif not failed.cancelled():
                failed.exception()  # a failure that came while cancelling: seen

    def __repr__(self) -> str:
        return "<Grouped" + super().__repr__()[1:]


class _Pair(tuple[Any, Stream[Any]]):
    """One group, ``(key, substream)``. Reading a value's field on it (Faust's
    ``group_by`` yields values) fails saying what to write instead."""

    __slots__ = ()

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                refuse(self, name)
            raise UnsupportedFeatureError(
                f"group_by(...) yields (key, substream) pairs, not values (Faust's group_by "
                f"yields values), so a pair has no {name!r}: write `async for key, values in "
                "stream.group_by(...)` and iterate `values`, or "
                "`await stream.group_by(...).each(fun)`",
                name=name,
                obj=self,
            )


class _Substream(Stream[V]):
    """The stream of one group's events; ``group`` is its subject."""

    def __init__(self, observable: Observable[Any], base: Stream[Any], group: _Group) -> None:
        super().__init__(observable=observable, app=base.app, sources=base.sources, ctx=base.ctx)
        self.group = group


class _Group(Subject[Any]):
    """The subject of one group.

    Until its first subscriber comes it keeps what it receives (held: in flight); then it
    forwards straight to the subscriber(s), without Subject's per-item locks (everything
    runs on one loop). With no subscriber any more, or once its substream was let go of
    unsubscribed, it drops (acks) what it receives.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[Any] | None = []
        self.targets: list[abc.ObserverBase[Any]] = []
        self.done: list[Exception | None] = []  # the terminal notification, once it came
        #: set on every event; the idle check clears it
        self.touched = True
        #: ends the group's lifetime (set by its _Lifetime)
        self.expire: Callable[[], None] | None = None

    def on_next(self, value: Any) -> None:
        self.touched = True
        targets = self.targets
        if len(targets) == 1:
            targets[0].on_next(value)
        elif targets:
            views = split(value, len(targets)) if type(value) is Event else None
            for i, t in enumerate(list(targets)):
                t.on_next(value if views is None else views[i])
        elif self.waiting is not None:
            self.waiting.append(value)
        else:
            _drop(value)

    def on_error(self, error: Exception) -> None:
        self._terminate(error)

    def on_completed(self) -> None:
        self._terminate(None)

    def _terminate(self, error: Exception | None) -> None:
        if self.done:
            return
        self.done.append(error)
        self.expire = None
        targets, self.targets = self.targets, []
        for t in targets:
            if error is None:
                t.on_completed()
            else:
                t.on_error(error)

    def _subscribe_core(
        self, observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        waiting, self.waiting = self.waiting, None
        for v in waiting or ():
            observer.on_next(v)
        if self.done:
            error = self.done[0]
            if error is None:
                observer.on_completed()
            else:
                observer.on_error(error)
            return Disposable()
        self.targets.append(observer)

        def unsubscribe() -> None:
            if observer in self.targets:
                self.targets.remove(observer)

        return Disposable(unsubscribe)

    def abandon(self) -> None:
        """The substream was let go of: if never iterated, drop what waits and what comes."""
        waiting, self.waiting = self.waiting, None
        for v in waiting or ():
            _drop(v)

    def end(self) -> None:
        """End the group now (its consumer is done): a later event starts a new group."""
        expire = self.expire
        if expire is not None:
            self.expire = None
            expire()

    def dispose(self) -> None:
        self.targets = []
        self.waiting = None


def _drop(item: Any) -> None:
    if type(item) is Event:
        item.ack()


class _Lifetime(Observable[Any]):
    """Fires when its group was idle for ``idle_timeout`` seconds, or ended by ``end()``."""

    def __init__(
        self, group: _Group, idle_timeout: float | None, sched: abc.SchedulerBase | None
    ) -> None:
        super().__init__()
        self._group = group
        self._idle_timeout = idle_timeout
        self._sched = sched

    def _subscribe_core(
        self, observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        group = self._group
        timer = SerialDisposable()

        def fire() -> None:
            timer.dispose()
            observer.on_next(None)

        group.expire = fire
        idle_timeout, sched = self._idle_timeout, self._sched
        if idle_timeout is not None and sched is not None:
            period = idle_timeout / CHECKS
            quiet = 0

            def check(_: abc.SchedulerBase, __: Any = None) -> None:
                nonlocal quiet
                if group.touched:
                    group.touched = False
                    quiet = 0
                else:
                    quiet += 1
                    if quiet >= CHECKS:
                        group.end()
                        return
                timer.disposable = sched.schedule_relative(period, check)

            timer.disposable = sched.schedule_relative(period, check)

        def dispose() -> None:
            timer.dispose()
            if group.expire is fire:
                group.expire = None

        return Disposable(dispose)


def _grouped(
    base: Stream[Any],
    key: Callable[[Any], Any],
    idle_timeout: float | None,
    scheduler: abc.SchedulerBase | None,
    on_subscribe: Callable[[], None] | None,
) -> Observable[tuple[Any, Stream[Any]]]:
    source = base.observable
    ctx: StreamContext = base.ctx

    def subscribe(
        observer: abc.ObserverBase[tuple[Any, Stream[Any]]],
        scheduler_: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        if on_subscribe is not None:
            on_subscribe()
        sched = time_scheduler(scheduler, scheduler_) if idle_timeout is not None else None
        current_key: Any = None
        newest: _Group | None = None

        def keep(item: Any) -> bool:
            nonlocal current_key
            try:
                current_key = key(item.value if type(item) is Event else item)
            except Exception as exc:
                if type(item) is Event and ctx.handle(item, exc):
                    return False
                raise
            return True

        def key_of(_: Any) -> Any:
            return current_key

        def new_group() -> Subject[Any]:
            nonlocal newest
            newest = _Group()
            return newest

        def lifetime(_: GroupedObservable[Any, Any]) -> Observable[Any]:
            assert newest is not None
            return _Lifetime(newest, idle_timeout, sched)

        def pair(g: GroupedObservable[Any, Any]) -> tuple[Any, Stream[Any]]:
            group = newest
            assert group is not None
            weakref.finalize(g, group.abandon)
            return _Pair((g.key, _Substream(g, base, group)))

        return source.pipe(
            ops.filter(keep),
            ops.group_by_until(key_of, None, lifetime, new_group),
            ops.map(pair),
        ).subscribe(observer, scheduler=scheduler_)

    return Observable(subscribe)


# -- repartitioning -------------------------------------------------------------------------


def _repartition_topic(
    stream: Stream[Any], name: str | None, topic: Any
) -> tuple[Source, Topic[Any, Any]]:
    app: App = stream.app
    sources = list(stream.sources)
    if len(sources) != 1 or sources[0].local is not None or sources[0].name not in app.topics:
        names = ", ".join(sorted(s.name for s in sources)) or "nothing"
        raise ConfigurationError(
            "group_by(name=/topic=) repartitions through a topic, so it needs a stream of "
            f"exactly one topic; this stream reads {names}"
        )
    source = sources[0]
    origin = app.topics[source.name]
    partitions = origin.partitions or app.conf.topic_partitions
    if topic is None or isinstance(topic, str):
        # values of the source's type keep its codec (Records stay Records), and values a
        # map() changed come back as what they were (DerivedCodec); the keys are new (what
        # ``key`` returns), so they get the app's key serializer. A topic of that name the
        # app already has (declared, or by another group_by) is used as it is.
        through_name = topic or f"{source.name}-{name}-repartition"
        if through_name in app.topics:
            through = app.topic(through_name, partitions=partitions)
        else:
            through = app.topic(
                through_name,
                partitions=partitions,
                internal=True,
                value_serializer=DerivedCodec(origin.value_codec, origin.value_type),
            )
    else:
        through = topic
        if getattr(through, "app", None) is not app:
            raise ConfigurationError(f"group_by(topic=) needs a topic of this app, not {topic!r}")
    have = through.partitions or app.conf.topic_partitions
    if have != partitions:
        raise ConfigurationError(
            f"group_by() repartitions {source.name!r} ({partitions} partitions) through "
            f"{through.name!r}, declared with {have}: they must have the same partition count"
        )
    return source, through


async def _check_copartitioned(app: App, source: str, through: Topic[Any, Any]) -> None:
    """The internal topic on the broker must have the source topic's partition count."""
    transport = app.transport
    want = await transport.partition_count(source)
    have = await transport.partition_count(through.name)
    if have is None:
        await transport.create_topics([through.spec()])
        have = await transport.partition_count(through.name)
    if want is not None and have != want:
        raise ConfigurationError(
            f"topic {through.name!r} has {have} partitions on the broker but {source!r} has "
            f"{want}: a repartition topic must have the source topic's partition count "
            f"(delete it, or declare {source!r} with its real partition count)"
        )


async def _forward(
    stream: Stream[Any], key: Callable[[Any], Any], source: str, through: Topic[Any, Any]
) -> None:
    """Send every event of ``stream`` to ``through``, keyed by ``key(value)``."""
    await _check_copartitioned(stream.app, source, through)
    ctx = stream.ctx
    send = through.send
    async for event in stream.events():
        try:
            k = key(event.value)
        except Exception as exc:
            if ctx.handle(event, exc):
                del event
                continue
            pin(event)
            raise
        # the bridge acks the event when this loop moves on: after the send is queued
        await send(key=k, value=event.value, headers=event.headers, timestamp=event.timestamp)
        # let go of it before waiting for the next one: a value a pipe() operator derived
        # (a fork) keeps its input event alive, and that input's own ack waits until it
        # is freed
        del event


def _once(start: Callable[[], object]) -> Callable[[], None]:
    started = False

    def once() -> None:
        nonlocal started
        if not started:
            started = True
            start()

    return once
