"""Keeping SASL secrets out of aiokafka's debug log.

aiokafka logs every request and response at DEBUG on the ``aiokafka.conn`` logger, the
SASL ones too: a ``SaslAuthenticateRequest``'s bytes are, with PLAIN,
``username\\0username\\0password`` in clear. :func:`install` adds a filter to that logger
that replaces the authentication bytes of those lines (requests and responses) with
``<redacted>``; the line itself stays, so the exchange can still be followed. The Kafka
transport installs it when it is given SASL credentials; it stays installed (one filter
per process, whatever the number of transports).
"""

from __future__ import annotations

import logging

__all__ = ("SaslRedaction", "install")

LOGGER = "aiokafka.conn"
_SASL_AUTHENTICATE = 36  # the API key of SaslAuthenticate requests and responses
_REDACTED = "<redacted>"


class SaslRedaction(logging.Filter):
    """Rewrites the arguments of a log record that carry a SaslAuthenticate request or
    response: their authentication bytes are not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_is_sasl(arg) for arg in args):
            record.args = tuple(_redacted(arg) if _is_sasl(arg) else arg for arg in args)
        return True


def _is_sasl(arg: object) -> bool:
    return getattr(type(arg), "API_KEY", None) == _SASL_AUTHENTICATE


def _redacted(arg: object) -> str:
    return f"{type(arg).__name__}(sasl_auth_bytes={_REDACTED})"


def install() -> None:
    """Add the filter to aiokafka's connection logger, once."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(f, SaslRedaction) for f in logger.filters):
        logger.addFilter(SaslRedaction())
