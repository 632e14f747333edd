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
    """:meth:`Stream.tee <rxstreams.Stream.tee>`: also deliver every event to ``streams``.

    Each event is split into one view per branch (:func:`~._echo.split`) before fan-out;
    a :class:`~._echo.Forwarder` per subscription hands the branches' views over. See the
    method for the diagram, the acks and the errors.
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
