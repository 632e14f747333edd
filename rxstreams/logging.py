"""Logging: quiet until the application asks; structured events once it does.

A library prints nothing until it is asked to. The loggers :func:`get_logger` returns
decide, each time a line is logged, where it goes:

- while structlog is not configured (``structlog.is_configured()`` is false: neither the
  application nor :func:`configure` set it up), a line goes to the standard library's
  :mod:`logging`, to the logger named after the module (``rxstreams.runtime.worker``,
  ``rxstreams_memory._group``, …). Python's defaults then apply: debug and info are
  dropped, warnings and errors reach standard error through logging's last-resort
  handler, and an application's own ``logging`` setup decides otherwise. A line that
  logger does not let through costs one level check;
- once structlog is configured, a line is a structlog event (event name and key/values,
  with the bound context) rendered as that configuration says.

:func:`configure` is for applications and the CLI (the library never configures logging
itself): it configures structlog, and renders aiokafka's standard-library log lines the
same way. Inside an agent, every log event gets ``topic``, ``partition``, ``offset``,
``key`` and ``agent`` of the event being processed, so a user's own ``log.info(...)``
carries them: :func:`add_event_context` is the structlog processor that adds them
(``configure`` installs it; add it to your own structlog setup otherwise). It reads what
the agent is processing when a line is logged, so it costs nothing per event.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.contextvars import merge_contextvars

from .errors import ConfigurationError, NoCurrentEventError

__all__ = ("Logger", "add_event_context", "configure", "get_logger")

#: the name of the agent whose instance runs in this task (set once per instance)
_agent_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rxstreams_agent", default=None
)

#: attributes of a LogRecord, which an event's keys must not overwrite (``extra=``)
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


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


class Logger:
    """A logger of rxstreams: structlog's once it is configured, ``logging``'s until then.

    Log with an event name and keys, ``log.info("offsets_committed", offsets=...)``;
    :meth:`bind` returns a logger that adds keys to every line. Where a line goes is
    decided when it is logged (see :mod:`rxstreams.logging`), so module-level loggers
    follow a configuration made after they were created.

    On the standard-library side, a record's message is the event name followed by
    ``key=value`` pairs (``partitions_assigned partitions=['orders[0]']``), and each key
    that is not a :class:`logging.LogRecord` attribute is also set on the record, for
    handlers that format records as data.
    """

    __slots__ = ("_context", "_stdlib", "_structlog")

    def __init__(self, name: str, context: dict[str, Any]) -> None:
        self._context = context
        self._stdlib = logging.getLogger(name)
        # a lazy proxy: it reads structlog's configuration when it logs, not now
        self._structlog: Any = structlog.get_logger(name, **context)

    def bind(self, **context: Any) -> Logger:
        """A logger for the same name that adds ``context`` to every line."""
        return Logger(self._stdlib.name, {**self._context, **context})

    def debug(self, event: str, **kw: Any) -> None:
        """Log ``event`` at DEBUG."""
        self._log("debug", logging.DEBUG, event, kw)

    def info(self, event: str, **kw: Any) -> None:
        """Log ``event`` at INFO."""
        self._log("info", logging.INFO, event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        """Log ``event`` at WARNING."""
        self._log("warning", logging.WARNING, event, kw)

    def error(self, event: str, **kw: Any) -> None:
        """Log ``event`` at ERROR."""
        self._log("error", logging.ERROR, event, kw)

    def exception(self, event: str, **kw: Any) -> None:
        """Log ``event`` at ERROR with the exception being handled."""
        kw.setdefault("exc_info", True)
        self._log("exception", logging.ERROR, event, kw)

    def critical(self, event: str, **kw: Any) -> None:
        """Log ``event`` at CRITICAL."""
        self._log("critical", logging.CRITICAL, event, kw)

    def _log(self, method: str, level: int, event: str, kw: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(self._structlog, method)(event, **kw)
            return
        if not self._stdlib.isEnabledFor(level):
            return
        values = {**self._context, **kw}
        exc_info = values.pop("exc_info", None)
        stack_info = bool(values.pop("stack_info", False))
        merge_contextvars(None, method, values)
        add_event_context(None, method, values)
        message = " ".join([event, *(f"{k}={v!r}" for k, v in values.items())])
        self._stdlib.log(
            level,
            message,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=3,  # the caller of debug()/info()/…, not this method
            extra={k: v for k, v in values.items() if k not in _RECORD_ATTRIBUTES},
        )

    def __repr__(self) -> str:
        return f"<rxstreams Logger {self._stdlib.name!r} context={self._context!r}>"


def get_logger(name: str, **context: Any) -> Logger:
    """A logger for ``name`` (a module's ``__name__``) with ``context`` bound.

    It stays lazy: it follows whatever :func:`configure` (or the application's own
    structlog setup) says at the time it logs, not at the time it was created; until
    structlog is configured it logs through the standard library's ``logging``.
    """
    return Logger(name, context)


class _AiokafkaHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure` puts on the ``aiokafka`` logger (one at a time)."""


def configure(*, json: bool = False, level: str | int = "INFO", file: TextIO | None = None) -> None:
    """Render rxstreams' (and the application's) structlog events, and aiokafka's lines.

    Configures structlog, so every :func:`get_logger` logger (already created or not)
    logs structured events from then on. aiokafka's standard-library loggers (``aiokafka``
    and its children) are rendered the same way, to the same place, and not passed on to
    the root logger: at WARNING and above unless ``level`` is DEBUG, since aiokafka
    writes hundreds of lines while a broker is unreachable. Calling ``configure`` again
    replaces what the previous call set up.

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
    shared: list[Any] = [
        merge_contextvars,
        add_event_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
    ]
    render: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    )
    structlog.configure(
        processors=[*shared, *render],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _route_aiokafka(out, numeric, shared, render)


def _route_aiokafka(out: TextIO, level: int, shared: list[Any], render: list[Any]) -> None:
    """Render the ``aiokafka`` loggers' records with ``render``, to ``out``, at ``level``
    (raised to WARNING unless it is DEBUG or lower)."""
    aiokafka = logging.getLogger("aiokafka")
    for old in [h for h in aiokafka.handlers if isinstance(h, _AiokafkaHandler)]:
        aiokafka.removeHandler(old)
        old.close()
    handler = _AiokafkaHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        )
    )
    aiokafka.addHandler(handler)
    aiokafka.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    aiokafka.propagate = False
