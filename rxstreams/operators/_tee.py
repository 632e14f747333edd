"""tee: fan every event out to channels and topics, with one ack reference per branch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..errors import ConfigurationError
from ..events import Event
from ..runtime.tokens import split
from ._echo import Forwarder, Target

if TYPE_CHECKING:
    from ..streams import Stream

__all__ = ("tee_",)


def tee_(stream: Stream[Any], streams: Sequence[Any]) -> Stream[Any]:
    """Also deliver every event to each of ``streams`` (channels or topics).

    ::

        --a--b--|
        tee(ch, topic)
        --a--b--|          (the main branch: this stream's events)
        ch:     --a--b-->  (the same events, for the channel's readers)
        topic:  --a--b-->  (copies: key, value, headers, timestamp)

    A channel gets the event itself (a view of the same message, with a token of its own):
    its readers see the original message (``event.message``), and they are waited for
    before the message is committed. The channel's flow control applies: while it is
    full, its events queue (in order) and the main branch goes on, until the source this
    stream reads pauses at ``stream_buffer_maxsize`` messages in flight. A topic gets a
    copy, sent from one task per subscription.

    The branches are fed while the main branch is subscribed (an agent iterates it, or a
    stream derived from it): a tee nobody iterates delivers nothing. In a batch (after
    ``buffer``) each event is teed; an item that is not an event goes to the main branch
    and is sent to each branch as a value.

    Args:
        stream: the stream to fan out.
        streams: Channels, Topics, Agents (their channel) or topic names.

    Returns:
        The main branch: a Stream of this stream's events (each one a view with its own
        token).

    Acks:
        One reference per branch, taken before fan-out: a message is committed once the
        main branch processed it, every channel branch's reader processed it, and every
        topic branch's send is queued (the app flushes before committing). A stuck branch
        holds the commit back.

    Errors:
        No branches, or a branch that is not a channel, topic, agent or name:
        :class:`~rxstreams.errors.ConfigurationError` at once. A failed send stops the app
        without committing that event.
    """
    if not streams:
        raise ConfigurationError("tee() needs at least one channel or topic")
    app = stream.app
    targets = [Target(app, s) for s in streams]
    n = len(targets) + 1
    name = ",".join(t.name for t in targets)

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        forwarder = Forwarder(app, f"tee:{name}")
        put = forwarder.put
        on_next = observer.on_next

        def fan_out(event: Event[Any, Any]) -> Event[Any, Any]:
            views = split(event, n)
            for target, view in zip(targets, views[1:], strict=True):
                put(view, target)
            return views[0]

        def tee(item: Any) -> None:
            if type(item) is Event:
                on_next(fan_out(item))
            elif type(item) is list:
                on_next([fan_out(e) if type(e) is Event else _plain(put, e, targets) for e in item])
            else:
                on_next(_plain(put, item, targets))

        subscription = stream.observable.subscribe(
            tee, observer.on_error, observer.on_completed, scheduler=scheduler
        )
        return CompositeDisposable(subscription, Disposable(forwarder.close))

    return stream._with(Observable(subscribe))


def _plain(put: Callable[[Any, Target], None], item: Any, targets: list[Target]) -> Any:
    for target in targets:
        put(item, target)
    return item
