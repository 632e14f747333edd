"""aiokafka's exceptions, translated into :mod:`rxstreams.errors` at the adapter boundary.

Every call into aiokafka runs inside :func:`translate_errors`, so user code only ever sees
:class:`~rxstreams.errors.TransportError` and its subclasses, with aiokafka's ``retriable``
flag kept and the original exception chained as ``__cause__``. The one exception to
keeping the flag: the broker being unreachable or slow is always retriable (aiokafka marks
some of those errors, e.g. ``KafkaTimeoutError``, as not retriable because it will not
retry them itself), while a client that was closed on purpose never is::

    aiokafka                                          rxstreams
    KafkaConnectionError, NoBrokersAvailable,     ->  BrokerUnavailableError (retriable)
      NodeNotReadyError, KafkaTimeoutError, ...
    ProducerClosed, ConsumerStoppedError          ->  BrokerUnavailableError (not retriable)
    CommitFailedError, IllegalGenerationError,    ->  CommitFailedError
      RebalanceInProgressError, UnknownMemberIdError
    UnknownTopicOrPartitionError, InvalidTopicError -> UnknownTopicError
    SaslAuthenticationFailed, UnsupportedSaslMechanismError,
      IllegalSaslStateError, AuthenticationFailedError, ... -> AuthenticationError
    ProducerFenced, InvalidProducerEpoch          ->  ProducerFencedError
    any other KafkaError                          ->  TransportError
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiokafka import errors as kafka_errors

from rxstreams.errors import (
    AuthenticationError,
    BrokerUnavailableError,
    CommitFailedError,
    ProducerFencedError,
    RxStreamsError,
    TransportError,
    UnknownTopicError,
)

__all__ = (
    "AUTHENTICATION",
    "KAFKA_ERRORS",
    "authentication_error",
    "translate",
    "translate_errors",
)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.GroupCoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorForGroupError,
    kafka_errors.ProducerClosed,
    kafka_errors.ConsumerStoppedError,
)
#: unavailable because this process closed the client: waiting will not bring it back
_CLOSED: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerClosed,
    kafka_errors.ConsumerStoppedError,
)
_FENCED: tuple[type[BaseException], ...] = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownMemberIdError,
)
_PRODUCER_FENCED: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFenced,
    kafka_errors.InvalidProducerEpoch,
)
_UNKNOWN_TOPIC: tuple[type[BaseException], ...] = (
    kafka_errors.UnknownTopicOrPartitionError,
    kafka_errors.InvalidTopicError,
)
#: the broker refused the credentials (TLS failures are ssl.SSLError: see _handshake)
AUTHENTICATION: tuple[type[BaseException], ...] = (
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
)
#: everything aiokafka raises on its own account (two of them are not KafkaErrors)
KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaError,
    kafka_errors.ConsumerStoppedError,
    kafka_errors.IllegalOperation,
)


def translate(exc: BaseException, doing: str) -> TransportError:
    """The rxstreams error for an aiokafka exception raised while ``doing`` something."""
    retriable = bool(getattr(exc, "retriable", False))
    detail = f"{doing} failed: {type(exc).__name__}"
    text = str(exc)
    if text and text != type(exc).__name__:
        detail += f": {text}"
    if isinstance(exc, _UNAVAILABLE):
        return BrokerUnavailableError(
            f"{detail} (is the broker running and reachable at the URL given?)",
            retriable=not isinstance(exc, _CLOSED),
        )
    if isinstance(exc, _FENCED):
        return CommitFailedError(
            f"{detail}; the group rebalanced and the partitions may belong to another "
            "member now. Records after the last successful commit will be delivered again.",
            retriable=retriable,
        )
    if isinstance(exc, _PRODUCER_FENCED):
        return ProducerFencedError(
            f"{detail}; another producer with this transactional id started, or the "
            "broker aborted the transaction for running past the transaction timeout. "
            "The transaction is aborted: its input is processed again.",
            retriable=False,
        )
    if isinstance(exc, AUTHENTICATION):
        return authentication_error(exc, doing)
    if isinstance(exc, _UNKNOWN_TOPIC):
        return UnknownTopicError(
            f"{detail} (declare the topic, or check its name and partition)",
            retriable=retriable,
        )
    return TransportError(detail, retriable=retriable)


def authentication_error(
    exc: BaseException,
    doing: str,
    *,
    server: str | None = None,
    security: Mapping[str, Any] | None = None,
) -> AuthenticationError:
    """The :class:`AuthenticationError` for a refused SASL handshake: who was refused, by
    which broker, and what to check (never the password)."""
    detail = str(exc)
    who = ""
    if security:
        who = (
            f" user {security.get('sasl_plain_username')!r} with "
            f"{security.get('sasl_mechanism')} over {security.get('security_protocol')}"
        )
    where = f" at {server}" if server else ""
    name = type(exc).__name__
    if name not in detail:
        detail = f"{name}: {detail}" if detail else name
    return AuthenticationError(
        f"{doing} failed: the broker{where} refused to authenticate{who} ({detail}). "
        "Check the username, password and mechanism of broker_credentials "
        "(rxstreams.SASLCredentials), and that the listener of the URL enables that mechanism",
        retriable=False,
    )


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Re-raise aiokafka's exceptions from the block as rxstreams errors."""
    try:
        yield
    except RxStreamsError:
        raise
    except KAFKA_ERRORS as exc:
        raise translate(exc, doing) from exc
