"""What a stream's operators do when a user function raises on an event.

A :class:`StreamContext` is shared by a stream and every stream derived from it. The agent
that iterates the stream installs its error policy there, so an exception in a ``filter``
or ``map`` function gets the same treatment as one raised in the agent's body: skip the
event, deliver it again, dead-letter it, or (the default) fail the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event

__all__ = ("StreamContext",)


class StreamContext:
    """Shared error handling of a family of streams."""

    __slots__ = ("handler",)

    def __init__(self) -> None:
        #: set by the agent: handles ``(event, exc)`` and returns True, or returns False to
        #: let the stream fail
        self.handler: Callable[[Event[Any, Any], BaseException], bool] | None = None

    def handle(self, event: Event[Any, Any], exc: BaseException) -> bool:
        """Apply the policy to ``event``; False means: fail the stream with ``exc``."""
        handler = self.handler
        return handler is not None and handler(event, exc)
