"""echo: print each value, or forward each event to channels and topics as it passes.

This module also holds what ``echo``, ``tee`` and ``through`` share to hand events over:
:class:`Target` (a topic, channel or agent to forward to) and :class:`Forwarder` (sends from
one task per subscription, in order: no task or future per event).
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable

from ..channels import Channel
from ..errors import ConfigurationError
from ..events import Event
from ..runtime.tokens import merge, pin, split
from ..topics import Topic

if TYPE_CHECKING:
    from ..app import App
    from ..streams import Stream

__all__ = ("Forwarder", "Target", "echo_")


def echo_(stream: Stream[Any], *channels: Any, file: TextIO | None = None) -> Stream[Any]:
    """:meth:`Stream.echo <rxstreams.Stream.echo>`: print each value, or forward each event.

    Printing alone is ``reactivex.operators.do_action``; with channels, each event is
    forked (the fork holds the message while its sends are pending) and a
    :class:`Forwarder` per subscription sends the copies. See the method for the diagram,
    the acks and the errors.
    """
    app = stream.app
    targets = [Target(app, c) for c in channels]
    printing = not targets or file is not None

    def show(item: Any) -> None:
        print(_printable(item), file=sys.stdout if file is None else file)

    if not targets:
        return stream._with(stream.observable.pipe(ops.do_action(show)))

    name = ",".join(t.name for t in targets)

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        forwarder = Forwarder(app, f"echo:{name}")
        on_next = observer.on_next

        def forward(item: Any) -> None:
            if printing:
                show(item)
            if type(item) is Event:
                _forward_event(forwarder, item, targets)
            elif type(item) is list:
                for e in item:
                    if type(e) is Event:
                        _forward_event(forwarder, e, targets)
                    else:
                        _forward_value(forwarder, e, targets)
            else:
                _forward_value(forwarder, item, targets)
            on_next(item)

        subscription = stream.observable.subscribe(
            forward, observer.on_error, observer.on_completed, scheduler=scheduler
        )
        return CompositeDisposable(subscription, Disposable(forwarder.close))

    return stream._with(Observable(subscribe))


def _printable(item: Any) -> Any:
    if type(item) is Event:
        return item.value
    if type(item) is list:
        return [e.value if type(e) is Event else e for e in item]
    return item


def _forward_event(forwarder: Forwarder, event: Event[Any, Any], targets: list[Target]) -> None:
    # a fork holds the message while the sends are pending; the event passes on unchanged
    forked = merge(event, event.value)
    for target, view in zip(targets, split(forked, len(targets)), strict=True):
        forwarder.put(view, target)


def _forward_value(forwarder: Forwarder, value: Any, targets: list[Target]) -> None:
    for target in targets:
        forwarder.put(value, target)


# -- forwarding ---------------------------------------------------------------------------------


class Target:
    """A topic or channel to forward events to (an agent means its channel, a string a topic).

    A topic gets a copy (key, value, headers, timestamp) and the event's token is released
    once the send is queued; a channel gets the event itself, token included, so the
    message is committed only after the channel's streams processed it.
    """

    __slots__ = ("channel", "name", "obj", "source", "topic")

    def __init__(self, app: App, target: Any) -> None:
        obj = target
        if isinstance(obj, str):
            obj = app.topic(obj)
        elif not isinstance(obj, Topic | Channel) and isinstance(
            getattr(obj, "channel", None), Topic | Channel
        ):
            obj = obj.channel  # an agent
        if isinstance(obj, Channel):
            if obj.app is not app:
                raise ConfigurationError(f"{obj!r} belongs to another app")
            self.channel: Channel[Any, Any] | None = obj
            self.topic: Topic[Any, Any] | None = None
            self.source = app.worker.source_for_channel(obj)
        elif isinstance(obj, Topic):
            if obj.app is not app:
                raise ConfigurationError(f"{obj!r} belongs to another app")
            self.channel = None
            self.topic = obj
        else:
            raise ConfigurationError(
                f"cannot forward to {target!r}: give a Topic, a Channel, an Agent or a topic name"
            )
        self.obj: Topic[Any, Any] | Channel[Any, Any] = obj
        self.name: str = obj.name

    def ready(self) -> bool:
        """True when an event can be handed over at once: a channel with room."""
        return self.channel is not None and not self.source.paused

    async def forward(self, item: Any) -> None:
        """Forward ``item`` (an Event owning its token, or a plain value).

        If this fails or is cancelled, the event is pinned: it is never acked implicitly.
        """
        if type(item) is not Event:
            await self.obj.send(value=item)
            return
        try:
            channel = self.channel
            if channel is not None:
                source = self.source
                if source.paused:
                    await source.wait_for_room()
                channel._deliver(item)
                return
            assert self.topic is not None
            await self.topic.send(
                key=item.key, value=item.value, headers=item.headers, timestamp=item.timestamp
            )
        except BaseException:
            pin(item)
            raise
        item.ack()


class Forwarder:
    """Forwards items to targets in order from one task, started (through the app, so it
    stops with it) the first time something must wait; a channel with room and nothing
    queued gets its event at once, without the task.

    ``close()`` lets the task finish what is queued, then end.
    """

    def __init__(self, app: App, name: str) -> None:
        self._app = app
        self._name = name
        self._queue: deque[tuple[Any, Target]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._running = False
        self._closed = False

    def put(self, item: Any, target: Target) -> None:
        """Forward ``item`` to ``target`` after everything put before it."""
        queue = self._queue
        if not queue and type(item) is Event and target.ready():
            assert target.channel is not None
            target.channel._deliver(item)
            return
        queue.append((item, target))
        if not self._running:
            self._running = True
            self._app.worker.spawn(self._run(), f"forward:{self._name}")
        else:
            self._wake()

    def close(self) -> None:
        """Forward what is queued, then stop (the subscription ended)."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                while queue:
                    item, target = queue[0]
                    await target.forward(item)
                    queue.popleft()
                if self._closed:
                    return
                waiter = self._waiter = asyncio.get_running_loop().create_future()
                await waiter
        except BaseException:
            # not forwarded: never ack these implicitly (the app stops; they come again)
            for item, _ in queue:
                pin(item)
            queue.clear()
            raise
        finally:
            self._running = False
