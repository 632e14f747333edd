"""What a family of streams shares: the error policy, and whether iterating acks.

A :class:`StreamContext` is shared by a stream and every stream derived from it. The agent
that iterates the stream installs its error policy there, so an exception in a ``filter``
or ``map`` function gets the same treatment as one raised in the agent's body: skip the
event, deliver it again, dead-letter it, or (the default) fail the stream.

``stream.noack()`` starts a family of its own (a child context): its streams do not ack
an event when the iterator moves past it, and still use the parent's error policy. A
context also remembers why its streams ended (``take``), so an agent that returns can say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event

__all__ = ("StreamContext",)

Handler = Callable[["Event[Any, Any]", BaseException], bool]


class StreamContext:
    """Shared error handling and ack mode of a family of streams."""

    __slots__ = ("_handler", "auto_ack", "ended", "parent")

    def __init__(self, parent: StreamContext | None = None, *, auto_ack: bool = True) -> None:
        self._handler: Handler | None = None
        #: the family this one was derived from (its error policy applies here too)
        self.parent = parent
        #: iterating acks each event when the iterator moves past it (False: ``noack()``)
        self.auto_ack = auto_ack
        #: why a stream of the family ended, e.g. ``"take(100, within=1)"``
        self.ended: str | None = None

    @property
    def handler(self) -> Handler | None:
        """Set by the agent: handles ``(event, exc)`` and returns True, or returns False to
        let the stream fail."""
        ctx: StreamContext | None = self
        while ctx is not None:
            if ctx._handler is not None:
                return ctx._handler
            ctx = ctx.parent
        return None

    @handler.setter
    def handler(self, handler: Handler | None) -> None:
        self._handler = handler

    def handle(self, event: Event[Any, Any], exc: BaseException) -> bool:
        """Apply the policy to ``event``; False means: fail the stream with ``exc``."""
        handler = self.handler
        return handler is not None and handler(event, exc)

    def end(self, why: str) -> None:
        """A stream of the family ended, because of ``why`` (told to the parents too)."""
        ctx: StreamContext | None = self
        while ctx is not None:
            ctx.ended = why
            ctx = ctx.parent
