"""rxstreams: Faust-style stream processing on RxPY.

Apps, agents, topics, streams and events with acks, where every stream is also a hot
reactivex Observable. Importing this package defines names and does nothing else.
"""

from __future__ import annotations

# the application
from .agents import Agent
from .app import App, RunResult
from .channels import Channel

# serializers
from .codecs import NumberCodec, get_codec, register_codec
from .commands import argument, option

# connecting to a secured broker
from .credentials import Credentials, SASLCredentials, SSLCredentials

# errors
from .errors import (
    AgentError,
    AppStateError,
    ArgumentTypeError,
    AskTimeoutError,
    AuthenticationError,
    BrokerUnavailableError,
    CodecError,
    CommitFailedError,
    ConfigurationError,
    EventError,
    MissingKeyError,
    NoCurrentEventError,
    ProducerFencedError,
    RecordError,
    RejectedTooOftenError,
    RxStreamsError,
    TaskError,
    TLSError,
    TransportError,
    UnknownTopicError,
    UnsupportedFeatureError,
)

# events and streams
from .events import Event, current_event
from .messages import GroupMetadata, Message, RecordMetadata, TopicPartition, TopicSpec
from .operators._group_by import GroupedStream
from .records import FieldDescriptor, Record, RecordCodec, SchemaCodec
from .settings import Settings
from .streams import Stream
from .topics import Topic

# protocols
from .types import (
    AgentT,
    CodecT,
    ConsumerT,
    EventT,
    ProducerT,
    ReaderT,
    StreamT,
    TransportT,
)

__version__ = "0.1.0"

__all__ = (
    # the application
    "App",
    "Agent",
    "RunResult",
    "Channel",
    "Settings",
    "Topic",
    "argument",
    "option",
    # connecting to a secured broker
    "Credentials",
    "SASLCredentials",
    "SSLCredentials",
    # events and streams
    "Event",
    "Stream",
    "GroupedStream",
    "current_event",
    # messages
    "GroupMetadata",
    "Message",
    "RecordMetadata",
    "TopicPartition",
    "TopicSpec",
    # records and serializers
    "FieldDescriptor",
    "NumberCodec",
    "Record",
    "RecordCodec",
    "SchemaCodec",
    "get_codec",
    "register_codec",
    # protocols
    "AgentT",
    "CodecT",
    "ConsumerT",
    "EventT",
    "ProducerT",
    "ReaderT",
    "StreamT",
    "TransportT",
    # errors
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
