"""Every error rxstreams raises derives from :class:`RxStreamsError`.

The tree::

    RxStreamsError
    ├── ConfigurationError          bad setting, broker URL, transport or argument value
    ├── ArgumentTypeError           an argument of the wrong kind (not a Stream, not callable)
    ├── AppStateError               an app used in the wrong state (not started, stopped)
    ├── TransportError              the broker misbehaved (``retriable`` says if a retry may help)
    │   ├── BrokerUnavailableError  the broker cannot be reached or went away
    │   ├── AuthenticationError     the broker refused the credentials (SASL)
    │   │   └── TLSError            the TLS handshake failed (certificate not trusted, refused)
    │   ├── CommitFailedError       the group moved on: the commit was fenced by a rebalance
    │   ├── ProducerFencedError     a transactional producer was fenced (newer epoch, timeout)
    │   └── UnknownTopicError       the topic does not exist and could not be created
    ├── EventError                  an event used against its contract
    │   └── RejectedTooOftenError   ``reject()`` passed the redelivery limit
    ├── NoCurrentEventError         ``current_event()`` called outside an agent
    ├── CodecError                  a key or value could not be encoded or decoded
    │   └── RecordError             a Record failed to decode or validate (names the field)
    ├── AgentError                  an agent failed and its error policy said stop
    ├── TaskError                   a task, timer or crontab raised: the app stops
    ├── AskTimeoutError             ``Agent.ask()`` got no reply in time
    ├── MissingKeyError             a table has no such key (and no default): a KeyError
    └── UnsupportedFeatureError     a Faust name rxstreams lacks; the message says what to write
"""

from __future__ import annotations

__all__ = (
    "AgentError",
    "AuthenticationError",
    "AppStateError",
    "ArgumentTypeError",
    "AskTimeoutError",
    "BrokerUnavailableError",
    "CodecError",
    "CommitFailedError",
    "ConfigurationError",
    "EventError",
    "MissingKeyError",
    "NoCurrentEventError",
    "ProducerFencedError",
    "RecordError",
    "RejectedTooOftenError",
    "RxStreamsError",
    "TLSError",
    "TaskError",
    "TransportError",
    "UnknownTopicError",
    "UnsupportedFeatureError",
)


class RxStreamsError(Exception):
    """Root of every error raised by rxstreams."""


class ConfigurationError(RxStreamsError, ValueError):
    """Raised when a setting, a broker URL, a transport name or an argument's value is not valid."""


class ArgumentTypeError(RxStreamsError, TypeError):
    """Raised when an argument has a type rxstreams cannot use (not callable, not a Stream)."""


class AppStateError(RxStreamsError, RuntimeError):
    """Raised when an app, agent or stream is used in a state that does not allow it."""


class TransportError(RxStreamsError):
    """Raised when the broker fails a request; ``retriable`` says if trying again may work."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class BrokerUnavailableError(TransportError):
    """Raised when the broker cannot be reached, or stopped answering."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message, retriable=retriable)


class AuthenticationError(TransportError):
    """Raised when the broker refuses the app's credentials (SASL user, password, mechanism)."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message, retriable=retriable)


class TLSError(AuthenticationError):
    """Raised when the TLS handshake with the broker fails (untrusted or refused certificate)."""


class CommitFailedError(TransportError):
    """Raised when a commit is refused because the consumer group rebalanced under it."""


class ProducerFencedError(TransportError):
    """Raised when a transactional producer was fenced: a newer one took its id, or timeout."""


class UnknownTopicError(TransportError):
    """Raised when a topic does not exist on the broker and was not declared."""


class EventError(RxStreamsError):
    """Raised when an event is used against its contract."""


class RejectedTooOftenError(EventError):
    """Raised when an event was rejected more often than ``redelivery_limit`` allows."""


class NoCurrentEventError(RxStreamsError, RuntimeError):
    """Raised by ``current_event()`` when no agent is processing an event in this task."""


class CodecError(RxStreamsError, ValueError):
    """Raised when a key or value cannot be serialized or deserialized."""


class RecordError(CodecError):
    """Raised when data does not decode into a Record; the message names the field."""


class AgentError(RxStreamsError):
    """Raised by the app when an agent failed and its error policy is to stop."""


class TaskError(RxStreamsError):
    """Raised by the app when a task, timer or crontab raised (its error is the cause)."""


class AskTimeoutError(RxStreamsError, TimeoutError):
    """Raised by ``Agent.ask()`` when no reply arrived within its timeout."""


class MissingKeyError(RxStreamsError, KeyError):
    """Raised when a table has no such key and no default: a KeyError, as for a dict."""


class UnsupportedFeatureError(RxStreamsError, AttributeError):
    """Raised when code uses a Faust name rxstreams lacks; the message says what to write."""
