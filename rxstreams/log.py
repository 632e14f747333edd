"""Logging helpers: the library logs through structlog; applications configure rendering.

:func:`get_logger` returns a bound logger; :func:`configure` is for applications and the
CLI (the library never configures logging itself).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ("configure", "get_logger")


def get_logger(name: str, **context: Any) -> Any:
    """A structlog logger for ``name`` with ``context`` bound."""
    return structlog.get_logger(name).bind(**context) if context else structlog.get_logger(name)


def configure(*, json: bool = False, level: str | int = "INFO") -> None:
    """Render rxstreams' (and the application's) structlog events to stderr.

    Args:
        json: one JSON object per line instead of the console renderer.
        level: the lowest level shown, a name such as ``"DEBUG"`` or a number.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
