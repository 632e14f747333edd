"""Ack tokens: the one module that moves, splits, holds and releases them.

A message delivered to ``k`` streams gets ``k`` tokens, one per stream, taken before
fan-out. Whichever :class:`~rxstreams.events.Event` object a stream currently carries owns
that stream's token. The message is acked (its offset can be committed) when its last token
is settled. The operations, and who calls them:

================  ==========================================================================
``root``          a delivered message's first event, owning one token (the source)
``derive``        a new event with another value takes the token over (map, redelivery)
``take_over``     the same value, a new event owning the token (through hands events on)
``fork``          a new event with a token of its own on the same message (derived work:
                  a value ``scan`` computed, a join result, a pending forward)
``merge``         a fork that also holds other events, and what they all keep (join)
``hold``          a merge without a value
``split``         ``n`` events, each with a token (a fan-out: tee, group subscribers)
``attach``        an event also keeps another (a channel's marker on a handed-over event)
``pin``           never settle implicitly: processing failed (agents, operators)
``unpin``         the error policy decided (skip, retry, dead letter)
``settle``        release the token (``Event.ack``, the bridge after each step, filter)
``__del__``       an event nobody references any more settles itself, unless pinned
================  ==========================================================================

An event may also *keep* other events (``_keep``): their tokens are settled with it and
pinned with it. A join result keeps a hold on every input it came from; an event handed to
a channel keeps the channel's marker. Every operation here carries the keep list along:
moving a token moves the list, splitting gives every part a hold on each kept event.

Events have no reference cycles (the root is referenced, never the other way round), so
CPython frees an event as soon as an operator lets go of it, and ``finalize`` runs at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..events import Event
    from ..types import MessageT
    from .offsets import PartitionOffsets
    from .source import Port

__all__ = (
    "Ackable",
    "attach",
    "derive",
    "fork",
    "hold",
    "holds",
    "is_pinned",
    "merge",
    "pin",
    "release",
    "revoked",
    "root",
    "settle",
    "sole",
    "split",
    "take_over",
    "unpin",
)

V = TypeVar("V")

_new = object.__new__


class Ackable:
    """The ack state an :class:`~rxstreams.events.Event` carries (its base class)."""

    __slots__ = (
        "_attempts",
        "_keep",
        "_owns",
        "_pending",
        "_pinned",
        "_port",
        "_root",
        "message",
        "offsets",
    )

    #: the underlying record (topic, partition, offset, timestamp in ms), or None
    message: MessageT | None
    #: the event holding the message's token count; None when this event is that one
    #: (a reference to itself would make every event a cycle only the GC can free)
    _root: Event[Any, Any] | None
    #: this object owns one of its message's tokens
    _owns: bool
    #: on the root: tokens not settled yet
    _pending: int
    #: processing failed: never settled implicitly
    _pinned: bool
    #: on the root: how often the message was rejected
    _attempts: int
    #: the subscriber (of a source) the event was delivered to
    _port: Port | None
    #: events whose tokens this one holds (settled and pinned with it)
    _keep: list[Event[Any, Any]] | None
    #: the partition's offset tracker (on the root)
    offsets: PartitionOffsets | None

    def ack(self) -> bool:
        """Settle the token this event owns (and what it keeps); True if it owned one.

        The message is acked when its last token is settled. Settling an event that owns
        no token (it moved on, or was settled already) is a no-op that returns False.
        """
        keep = self._keep
        if keep is not None:
            self._keep = None
            for e in keep:
                e.ack()
        if not self._owns:
            return keep is not None
        self._owns = False
        r = self._root or self
        r._pending -= 1
        if r._pending == 0:
            offsets = r.offsets
            if offsets is not None and r.message is not None:
                return offsets.ack(r.message.offset)
        return True

    def __del__(self) -> None:
        # finalize: an event nobody references any more settles itself, unless pinned or
        # its pipeline failed (a finalizer must never raise)
        try:
            if self._owns and not self._pinned:
                port = self._port
                if port is None or not (port.failed or (port.closed and not port.source.ports)):
                    self.ack()
                # else: its pipeline failed, or was disposed (a take downstream ended, the
                # app stopped) with no other stream left on its topic: an event an operator
                # still held then was not processed; the next run of the group gets it
        except Exception:
            pass


#: settle an event's token (``Event.ack``)
settle = Ackable.ack


def root(
    cls: type[Event[Any, Any]],
    key: Any,
    value: Any,
    message: MessageT,
    offsets: PartitionOffsets | None,
    port: Port | None = None,
    *,
    headers: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> Event[Any, Any]:
    """The first event of a delivered message, owning its one token.

    (The source's one-subscriber loop builds these inline, slot by slot, for speed: keep
    the two in step.)
    """
    ev: Event[Any, Any] = _new(cls)
    ev.key = key
    ev.value = value
    ev.message = message
    ev._headers = headers
    ev._ts = timestamp
    ev._root = None
    ev._owns = True
    ev._pinned = False
    ev._pending = 1
    ev._attempts = 0
    ev._port = port
    ev._keep = None
    ev.offsets = offsets
    return ev


def _copy(ev: Event[Any, Any], value: V) -> Event[Any, V]:
    """A new event on ``ev``'s message with ``value``, owning nothing yet."""
    new: Event[Any, V] = _new(type(ev))
    new.key = ev.key
    new.value = value
    new.message = ev.message
    new._headers = ev._headers
    new._ts = ev._ts
    new._root = ev._root or ev
    new._port = ev._port
    new._pinned = False
    new._attempts = 0
    new._pending = 0
    new._owns = False
    new._keep = None
    new.offsets = None
    return new


def derive(ev: Event[Any, Any], value: V) -> Event[Any, V]:
    """A new event with ``value`` that takes over ``ev``'s token and keep list."""
    new = _copy(ev, value)
    new._keep, ev._keep = ev._keep, None
    new._owns, ev._owns = ev._owns, False
    return new


def take_over(ev: Event[Any, V]) -> Event[Any, V]:
    """A new event with ``ev``'s value that takes over its token and keep list."""
    return derive(ev, ev.value)


def fork(
    ev: Event[Any, Any], value: V, *, keep: list[Event[Any, Any]] | None = None
) -> Event[Any, V]:
    """A new event with ``value`` and a token of its own on ``ev``'s message.

    ``ev`` keeps its token. ``keep`` lists more events whose tokens move into the new one
    (settled and pinned with it). If ``ev`` owns no token, the new event has none either.
    """
    new = _copy(ev, value)
    new._keep = keep
    if ev._owns:
        new._owns = True
        (ev._root or ev)._pending += 1
    return new


def hold(ev: Event[Any, Any]) -> Event[Any, Any]:
    """A new event holding a token on ``ev``'s message and on everything ``ev`` keeps."""
    return merge(ev, None)


def merge(
    ev: Event[Any, Any], value: V, others: list[Event[Any, Any]] | tuple[()] = ()
) -> Event[Any, V]:
    """A new event with ``value``, derived from ``ev`` and ``others`` (a join result, a
    pending forward): a token of its own on ``ev``'s message, and a hold on each of
    ``others`` and on everything they and ``ev`` keep. None of their offsets is committed
    before the new event is settled."""
    keep = [hold(o) for o in others]
    if ev._keep:
        keep.extend(hold(k) for k in ev._keep)
    return fork(ev, value, keep=keep or None)


def split(ev: Event[Any, V], n: int) -> list[Event[Any, V]]:
    """``n`` events sharing ``ev``'s message, each with a token of its own (a fan-out).

    The first takes over ``ev``'s token and keep list; every other one gets a token of its
    own (if ``ev`` had one) and a hold on each kept event, so what ``ev`` kept waits for
    all ``n``.
    """
    if n == 1:
        return [ev]
    keep = ev._keep
    views = [derive(ev, ev.value)]
    for _ in range(n - 1):
        view = fork(views[0], ev.value)
        view._keep = None if keep is None else [hold(k) for k in keep]
        views.append(view)
    return views


def attach(ev: Event[Any, Any], other: Event[Any, Any]) -> None:
    """``ev`` also keeps ``other``: ``other``'s token is settled (and pinned) with ``ev``."""
    keep = ev._keep
    ev._keep = [other] if keep is None else [*keep, other]


def pin(item: Any) -> None:
    """Never settle ``item`` (an event, or a batch of them) implicitly: it failed."""
    if type(item) is list:
        for e in item:
            pin(e)
    elif isinstance(item, Ackable):
        item._pinned = True
        keep = item._keep
        if keep is not None:
            for e in keep:
                pin(e)


def unpin(ev: Event[Any, Any]) -> None:
    """The error policy decided about ``ev``: it, and what it keeps (``pin`` pinned those
    too), may be settled again."""
    ev._pinned = False
    keep = ev._keep
    if keep is not None:
        for e in keep:
            unpin(e)


def is_pinned(item: Any) -> bool:
    """True when ``item`` (an event, or a batch with one) failed and must not be acked."""
    if type(item) is list:
        return any(isinstance(e, Ackable) and e._pinned for e in item)
    return isinstance(item, Ackable) and item._pinned


def sole(ev: Event[Any, Any]) -> bool:
    """True when ``ev`` is its message's root and its only token (no other stream or
    derived event shares it): an operator may then change it in place."""
    return ev._root is None and ev._pending == 1


def holds(ev: Event[Any, Any]) -> bool:
    """True while ``ev`` still owns a token or keeps other events."""
    return bool(ev._owns or ev._keep)


def revoked(item: Any) -> bool:
    """True when every token ``item`` (an event, or a batch of them) holds is on a revoked
    partition, so the new owners process all of it again. An event built from several
    messages (a mapped batch, a join result) that still holds one of a partition this
    worker owns is not revoked: it must still be processed here."""
    if type(item) is list:
        return bool(item) and all(revoked(e) for e in item)
    if not isinstance(item, Ackable):
        return False
    offsets = (item._root or item).offsets
    if offsets is None or not offsets.closed:
        return False
    keep = item._keep
    return keep is None or all(revoked(k) for k in keep)


def release(item: Any) -> None:
    """Settle an item a stream is done with: an event, or a batch (list) of events."""
    if type(item) is list:
        for e in item:
            if isinstance(e, Ackable):
                e.ack()
    elif isinstance(item, Ackable):
        item.ack()
