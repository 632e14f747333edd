"""Logging helpers: the library logs through structlog; applications configure rendering.

:func:`get_logger` returns a bound logger; :func:`configure` is for applications and the
CLI (the library never configures logging itself).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ("configure", "get_logger")


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
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
