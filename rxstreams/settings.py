"""The app's settings: one frozen, validated dataclass built from ``App(id, **settings)``."""

from __future__ import annotations

import dataclasses
import re
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from .credentials import Credentials, as_credentials
from .errors import ConfigurationError
from .faust_names import SETTINGS as FAUST_SETTINGS
from .types import ConsumerConfig, ProducerConfig

__all__ = ("Settings",)

_ID = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything an app can be told. Unknown names are refused with the list of known ones.

    Attributes:
        id: the app id; also the consumer group id, so workers with one id share partitions.
        broker: where the broker is, as a URL whose scheme picks the transport
            (``memory://`` the embedded broker, ``kafka://host:9092,host2:9092``).
        broker_credentials: how to connect to a secured broker (Faust's name): an
            :class:`ssl.SSLContext` (TLS; taken as ``SSLCredentials(context)``),
            :class:`~rxstreams.SSLCredentials` (TLS from CA, certificate and key files) or
            :class:`~rxstreams.SASLCredentials` (a username and password; SASL_SSL with a
            TLS context). None (the default): no TLS, no authentication. The embedded
            broker ignores them. Passwords never show in a repr.
        topic_partitions: partitions of topics the app creates when a topic does not say.
        key_serializer / value_serializer: codec names used when a topic does not say.
        commit_interval: seconds between commits of acked offsets.
        commit_every: also commit as soon as this many events were acked (None: never early).
        stream_buffer_maxsize: events of one topic in flight (delivered, not yet acked) before
            the app pauses fetching that topic's partitions; memory stays bounded by it.
        max_poll_records: the most records one fetch returns.
        fetch_timeout: seconds one fetch waits for records when there are none.
        auto_offset_reset: where a group with no committed offset starts.
        redelivery_limit: how often one event may be rejected before it fails.
        on_decode_error: what happens to a record that does not decode, when its topic does
            not say: ``raise`` (stop, nothing committed past it), ``skip`` (ack and log) or
            ``dead_letter`` (send its bytes and the error to ``<topic>-dlq``, then ack).
        session_timeout / rebalance_timeout: consumer-group timeouts, in seconds.
        shutdown_timeout: seconds a graceful stop waits for agents to finish their events.
        producer_acks: when the broker counts a sent record as written: ``"all"`` (the
            default, as in current Kafka clients: every in-sync replica has it), ``1`` (the
            partition leader has it; lost if the leader fails before replicating) or ``0``
            (no reply awaited: a lost record goes unnoticed, and on Kafka a send resolves
            to offset -1). ``-1`` is taken as ``"all"``.
        producer_idempotence: whether the broker deduplicates the producer's retries, so a
            record retried after a lost reply is written once. ``None`` (the default): on
            where the broker supports it; where it refuses (old brokers, Tansu), the
            producer starts without it and logs one ``producer_idempotence_unavailable``
            warning (set ``False`` to silence it). ``True``: required; starting fails with a
            :class:`~rxstreams.errors.ConfigurationError` where the broker refuses it, and
            it needs ``producer_acks="all"``. ``False``: off. With ``producer_acks`` 0 or 1,
            ``None`` means off (as in Kafka's Java client).
        producer_linger: seconds the producer may wait to fill a batch.
        producer_max_batch_size: bytes of records batched per partition before a batch is
            sent (Kafka's ``batch.size``).
        producer_compression: how batches are compressed: ``None`` (the default),
            ``"gzip"``, ``"snappy"``, ``"lz4"`` or ``"zstd"``. On Kafka, snappy, lz4 and
            zstd need the ``cramjam`` package (``pip install cramjam``); without it the
            app's producer is refused when it is created (at start or first send), with a
            :class:`~rxstreams.errors.ConfigurationError`. The memory broker does not
            compress.
        producer_request_timeout: seconds the broker may take to acknowledge a batch; a
            record not delivered in that time fails (its future, and the next flush).
        producer_max_request_size: the largest request the producer sends, in bytes; a
            bigger record is refused when it is sent.
        store: where tables keep their partitions when a table does not say:
            ``memory://`` (the default; recovered from the changelog in full by each
            worker that gets a partition) or ``rocksdb://path`` (on disk; a restarted
            worker replays only the changelog's tail).
        processing_guarantee: ``"at_least_once"`` (the default: a crash may process an
            event, and send its output, again) or ``"exactly_once"`` (Faust's name; Kafka's
            model): the worker's output and the input offsets that led to it are committed
            in one transaction, and the app reads only committed records, so after a crash
            or a rebalance each event's output appears once for readers that read
            committed records. It costs a barrier per commit (delivery pauses until the
            events in flight are done) and output becomes visible only at each commit
            (every ``commit_interval``). Needs a broker with transactions (Apache Kafka,
            the memory broker; not Tansu). See docs/kafka.md.
        transaction_timeout: exactly-once: seconds a transaction may stay open before the
            broker aborts it. When a worker dies, readers of committed records (the next
            steps of the pipeline) wait behind its open transaction this long at most.

    The producer settings are validated by :class:`~rxstreams.types.ProducerConfig`,
    which :meth:`producer_config` builds once when the settings are created.
    """

    id: str
    broker: str = "memory://"
    broker_credentials: Credentials | ssl.SSLContext | None = None
    topic_partitions: int = 8
    key_serializer: str = "json"
    value_serializer: str = "json"
    commit_interval: float = 2.0
    commit_every: int | None = 10_000
    stream_buffer_maxsize: int = 4096
    max_poll_records: int = 1000
    fetch_timeout: float = 0.5
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    redelivery_limit: int = 3
    on_decode_error: Literal["raise", "skip", "dead_letter"] = "raise"
    session_timeout: float = 10.0
    rebalance_timeout: float = 30.0
    shutdown_timeout: float = 10.0
    producer_acks: Literal[0, 1, -1, "all"] = "all"
    producer_idempotence: bool | None = None
    producer_linger: float = 0.0
    producer_max_batch_size: int = 16384
    producer_compression: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    producer_request_timeout: float = 40.0
    producer_max_request_size: int = 1_048_576
    store: str = "memory://"
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    transaction_timeout: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not _ID.match(self.id):
            raise ConfigurationError(
                f"app id {self.id!r} must be non-empty letters, digits, '.', '_' or '-'"
            )
        positive = {
            "topic_partitions": self.topic_partitions,
            "commit_interval": self.commit_interval,
            "stream_buffer_maxsize": self.stream_buffer_maxsize,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigurationError(f"setting {name} must be > 0, got {value!r}")
        for name, value in {
            "shutdown_timeout": self.shutdown_timeout,
            "redelivery_limit": self.redelivery_limit,
        }.items():
            if value < 0:
                raise ConfigurationError(f"setting {name} must be >= 0, got {value!r}")
        if self.commit_every is not None and self.commit_every < 1:
            raise ConfigurationError(f"commit_every must be >= 1 or None, not {self.commit_every}")
        if self.on_decode_error not in ("raise", "skip", "dead_letter"):
            raise ConfigurationError(
                "on_decode_error must be 'raise', 'skip' or 'dead_letter', "
                f"not {self.on_decode_error!r}"
            )
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ConfigurationError(
                "processing_guarantee must be 'at_least_once' or 'exactly_once', "
                f"not {self.processing_guarantee!r}"
            )
        if self.exactly_once and self.commit_interval >= self.transaction_timeout:
            raise ConfigurationError(
                f"exactly-once: commit_interval ({self.commit_interval}s) must be shorter "
                f"than transaction_timeout ({self.transaction_timeout}s): the broker aborts "
                "a transaction left open that long, and commits end each transaction"
            )
        object.__setattr__(self, "broker_credentials", as_credentials(self.broker_credentials))
        if "://" not in self.broker:
            raise ConfigurationError(
                f"broker {self.broker!r} is not a URL; use e.g. 'memory://' or 'kafka://host:9092'"
            )
        scheme, _, rest = self.broker.partition("://")
        if "@" in rest.split("/", 1)[0]:  # what comes before "@" may be a password: not shown
            raise ConfigurationError(
                f"credentials in the broker URL ({scheme}://...@{rest.rpartition('@')[2]}) are "
                "not supported: give them as broker_credentials=rxstreams.SASLCredentials("
                "username=..., password=..., mechanism=...)"
            )
        # the consumer and producer settings are validated by ConsumerConfig and
        # ProducerConfig, the one place each (transports get those); the messages name
        # the setting ("fetch_max_wait" is fetch_timeout here)
        try:
            self.consumer_config()
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"setting {str(exc).replace('fetch_max_wait', 'fetch_timeout')}"
            ) from None
        # the producer settings are checked as a worker asks for them (exactly-once: a
        # transactional producer's); acks=-1 comes back as "all"
        checked = self.producer_config(transactional_id="-" if self.exactly_once else None)
        object.__setattr__(self, "producer_acks", checked.acks)

    @classmethod
    def from_kwargs(cls, id: str, **kwargs: Any) -> Settings:
        """Build settings, refusing any name that is not a setting."""
        known = {f.name for f in dataclasses.fields(cls)} - {"id", "extra"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            hints = "".join(
                f"; {name} (Faust): {FAUST_SETTINGS[name]}"
                for name in unknown
                if name in FAUST_SETTINGS
            )
            raise ConfigurationError(
                f"unknown setting(s) {', '.join(unknown)}{hints}; known: {', '.join(sorted(known))}"
            )
        return cls(id=id, **kwargs)

    @property
    def exactly_once(self) -> bool:
        """``processing_guarantee == "exactly_once"``."""
        return self.processing_guarantee == "exactly_once"

    def consumer_config(self) -> ConsumerConfig:
        """What the app's group consumer is asked for."""
        return ConsumerConfig(
            group_id=self.id,
            client_id=self.id,
            auto_offset_reset=self.auto_offset_reset,
            session_timeout=self.session_timeout,
            heartbeat_interval=min(3.0, self.session_timeout / 3),
            rebalance_timeout=self.rebalance_timeout,
            max_poll_records=self.max_poll_records,
            fetch_max_wait=self.fetch_timeout,
            isolation_level="read_committed" if self.exactly_once else "read_uncommitted",
        )

    def producer_config(self, *, transactional_id: str | None = None) -> ProducerConfig:
        """What the app's producer is asked for (a worker's exactly-once producer gets
        its own ``transactional_id``)."""
        return ProducerConfig(
            client_id=self.id,
            linger=self.producer_linger,
            max_batch_size=self.producer_max_batch_size,
            acks=self.producer_acks,
            idempotence=self.producer_idempotence,
            compression=self.producer_compression,
            request_timeout=self.producer_request_timeout,
            max_request_size=self.producer_max_request_size,
            transactional_id=transactional_id,
            transaction_timeout=self.transaction_timeout,
        )
