"""The async-iterator bridge: from a hot Observable to ``async for``.

The bridge subscribes once, appends what the Observable pushes to a deque, and wakes a
waiting iterator once per burst (one future per batch, not per item). Memory is bounded
upstream: a topic's source pauses its partitions when too many of its events are in flight,
and every event waiting here is in flight.

When the iterator moves past an item it releases the item's ack token: the agent finished
that step. If the agent fails on an item, the item is pinned (never acked), so the commit
cannot pass it. A ``noack()`` stream's iterator pins each item instead of releasing it:
only an explicit ``event.ack()`` settles it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import reactivex
from reactivex import abc

from .._scheduling import loop_scheduler
from ..events import Event, _current
from .tokens import is_pinned, pin, release, revoked

__all__ = ("Bridge",)


class Bridge(abc.ObserverBase[Any]):
    """Queues an Observable's items for async iterators; one per Stream."""

    def __init__(self, observable: reactivex.Observable[Any]) -> None:
        self._observable = observable
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._subscription: abc.DisposableBase | None = None
        self._error: BaseException | None = None
        self._completed = False
        #: called at once (before anything is released) when the Observable errors
        self.on_failure: Callable[[BaseException], None] | None = None

    # -- Observer side ------------------------------------------------------------------------

    def on_next(self, value: Any) -> None:
        self._items.append(value)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def on_error(self, error: Exception) -> None:
        self._error = error
        if self.on_failure is not None:
            self.on_failure(error)
        self._wake()

    def on_completed(self) -> None:
        self._completed = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe (once) to the Observable."""
        if self._subscription is None:
            # time-based operators without a scheduler of their own use the running loop's
            self._subscription = self._observable.subscribe(self, scheduler=loop_scheduler())

    @property
    def started(self) -> bool:
        return self._subscription is not None

    def dispose(self) -> None:
        """Unsubscribe and drop what is queued (dropped events are acked unless frozen)."""
        sub = self._subscription
        if sub is not None:
            sub.dispose()
        self._items.clear()
        self._completed = True
        self._wake()

    def purge_revoked(self) -> int:
        """Drop queued events whose partition was revoked: the new owner processes them."""
        items = self._items
        keep = [item for item in items if not revoked(item)]
        dropped = len(items) - len(keep)
        if dropped:
            items.clear()
            items.extend(keep)
        return dropped

    def __len__(self) -> int:
        return len(self._items)

    async def _wait(self) -> None:
        w = self._waiter
        if w is None:
            w = self._waiter = asyncio.get_running_loop().create_future()
        await w

    # -- iterator side ------------------------------------------------------------------------

    async def iterate(self, mode: int, ack: bool = True) -> AsyncIterator[Any]:
        """Yield items; mode 0 = values, 1 = events, 2 = (key, value) pairs.

        ``ack=False`` (``noack()``): an item the iterator moves past is pinned, not
        released, so only an explicit ``ack()`` settles it.

        Batches (lists of events) are yielded as lists of values / events / pairs. While the
        consumer works on an item, the task's :data:`rxstreams.events._current` holder has
        it (it is how ``current_event()`` and the agent's error handling find it).
        """
        self.start()
        items = self._items
        holder: list[Any] = [None]
        token = _current.set(holder)
        held: Any = None
        try:
            while True:
                while items:
                    item = held = holder[0] = items.popleft()
                    if type(item) is Event:
                        if mode == 0:
                            yield item.value
                        elif mode == 1:
                            yield item
                        else:
                            yield (item.key, item.value)
                        if ack:
                            item.ack()
                        else:
                            pin(item)
                    elif type(item) is list and item and type(item[0]) is Event:
                        if mode == 0:
                            yield [e.value for e in item]
                        elif mode == 1:
                            yield item
                        else:
                            yield [(e.key, e.value) for e in item]
                        if ack:
                            release(item)
                        else:
                            pin(item)
                    else:
                        yield item
                    # let go of it now: a value derived from an event (a fork) keeps that
                    # event alive, and its own ack waits until it is freed
                    item = held = holder[0] = None
                if self._error is not None:
                    err, self._error = self._error, None
                    self._completed = True
                    raise err
                if self._completed:
                    return
                await self._wait()
        finally:
            holder[0] = None
            with contextlib.suppress(ValueError):  # closed from another context
                _current.reset(token)
            if held is not None and not is_pinned(held):
                if ack:
                    release(held)
                else:
                    pin(held)  # noack: only an explicit ack() settles it
