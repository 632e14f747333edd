"""through: send every event to a topic or channel, and continue from what arrives there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reactivex
from reactivex import abc

from ..events import Event
from ..runtime.tokens import take_over
from ..streams import Stream
from ._echo import Target

__all__ = ("through_",)


def through_(stream: Stream[Any], channel: Any) -> Stream[Any]:
    """Send every event to ``channel`` and return a stream of ``channel`` (Faust's ``through``).

    ::

        in:   --a--b--c--|
        through(topic)            (a, b, c are sent to topic)
        out:  ----a--b--c-->      (the stream of topic, as any reader of it sees it)

    The forwarding starts the first time the returned stream (or one derived from it) is
    subscribed, once, as a task of the app, and runs until the app stops (or this stream
    ends): a ``through`` whose stream nobody iterates forwards nothing. The returned
    stream reads *everything* that arrives in ``channel``, not only what this stream sent.
    Each event's key, value, headers and timestamp are sent; an item that is not an event
    (a ``group_by`` pair) is sent as a value.

    Args:
        stream: the stream whose events are sent.
        channel: a Topic, a Channel, an Agent (its channel) or a topic name.

    Returns:
        ``channel.stream()``, sharing this stream's error policy.

    Acks:
        To a topic: an event is acked once its send is queued (the app flushes the
        producer before committing the offsets that led to it). To a channel: the event
        itself is delivered, token included, so its message is committed only after the
        channel's stream processed it (a crash loses nothing held in memory).

    Errors:
        A target that is not a topic, channel, agent or name raises
        :class:`~rxstreams.errors.ConfigurationError` at once. A failed send stops the app
        without committing the event; an error of this stream's pipeline fails the app.
    """
    app = stream.app
    target = Target(app, channel)
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
