"""Logging: the library logs through structlog; applications configure rendering.

:func:`get_logger` returns a bound logger; :func:`configure` is for applications and the
CLI (the library never configures logging itself). Inside an agent, every log event gets
``topic``, ``partition``, ``offset``, ``key`` and ``agent`` of the event being processed,
so a user's own ``log.info(...)`` carries them: :func:`add_event_context` is the structlog
processor that adds them (``configure`` installs it; add it to your own structlog setup
otherwise). It reads what the agent is processing when a line is logged, so it costs
nothing per event.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from .errors import ConfigurationError, NoCurrentEventError

__all__ = ("add_event_context", "configure", "get_logger")

#: the name of the agent whose instance runs in this task (set once per instance)
_agent_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rxstreams_agent", default=None
)


def add_event_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: add the current agent and event's metadata to a log event."""
    agent = _agent_name.get()
    if agent is not None:
        event_dict.setdefault("agent", agent)
    from .events import current_event

    try:
        event = current_event()
    except NoCurrentEventError:
        return event_dict
    msg = event.message
    if msg is not None:
        event_dict.setdefault("topic", msg.topic)
        event_dict.setdefault("partition", msg.partition)
        event_dict.setdefault("offset", msg.offset)
    if event.key is not None:
        event_dict.setdefault("key", event.key)
    return event_dict


def get_logger(name: str, **context: Any) -> Any:
    """A structlog logger for ``name`` with ``context`` bound.

    The logger stays lazy: it follows whatever :func:`configure` (or the application's own
    structlog setup) says at the time it first logs, not at the time it was created.
    """
    return structlog.get_logger(name, **context)


def configure(*, json: bool = False, level: str | int = "INFO", file: TextIO | None = None) -> None:
    """Render rxstreams' (and the application's) structlog events.

    Args:
        json: one JSON object per line instead of the console renderer.
        level: the lowest level shown, a name such as ``"DEBUG"`` or a number.
        file: where to write (default: standard error).
    """
    out = sys.stderr if file is None else file
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ConfigurationError(
            f"unknown log level {level!r}: use a name such as 'DEBUG' or 'INFO', or a number"
        )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_event_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
