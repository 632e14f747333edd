"""through: send every event to a topic or channel, and continue from what arrives there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reactivex
from reactivex import abc

from ..codecs import DerivedCodec
from ..events import Event
from ..runtime.tokens import take_over
from ..streams import Stream
from ._echo import Target

__all__ = ("through_",)


def through_(stream: Stream[Any], channel: Any) -> Stream[Any]:
    """:meth:`Stream.through <rxstreams.Stream.through>`: send ``stream``'s events to
    ``channel`` and return ``channel.stream()``.

    The forwarding is a task of the app, started on the first subscription of the
    returned stream; a channel gets each event with its token (:func:`~._echo.take_over`).
    See the method for the diagram, the acks and the errors.
    """
    app = stream.app
    target = Target(app, _declared(stream, channel))
    out: Stream[Any] = target.obj.stream()
    # a stream of its own: its own subscription and bridge, whoever else iterates ``stream``
    feed = stream._with(stream.observable)
    started = False

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        nonlocal started
        if not started:
            started = True
            app.worker.spawn(_forward_all(feed, target), f"through:{target.name}")
        return out.observable.subscribe(observer, scheduler=scheduler)

    return Stream(
        observable=reactivex.create(subscribe), app=app, sources=out.sources, ctx=stream.ctx
    )


def _declared(stream: Stream[Any], channel: Any) -> Any:
    """A topic name the app has not declared becomes a topic with the types of the stream's
    source topic: its keys and values come back as they were sent (a Record as a Record,
    not a dict), with :class:`~rxstreams.codecs.DerivedCodec` for values a map() changed."""
    app = stream.app
    sources = list(stream.sources)
    if (
        not isinstance(channel, str)
        or channel in app.topics
        or len(sources) != 1
        or sources[0].local is not None
        or sources[0].name not in app.topics
    ):
        return channel
    origin = app.topics[sources[0].name]
    return app.topic(
        channel,
        key_serializer=DerivedCodec(origin.key_codec, origin.key_type),
        value_serializer=DerivedCodec(origin.value_codec, origin.value_type),
    )


async def _forward_all(feed: Stream[Any], target: Target) -> None:
    forward = target.forward
    items: AsyncIterator[Any] = feed.events()  # Events, batches (lists) or other items
    async for item in items:
        if type(item) is Event:
            await forward(take_over(item))
        elif type(item) is list:
            for e in item:
                await forward(take_over(e) if type(e) is Event else e)
        else:
            await forward(item)
        # let go of it before waiting for the next one: a value a pipe() operator derived
        # (a fork) keeps its input event alive, and that input's own ack waits until it
        # is freed
        del item
