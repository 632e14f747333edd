"""The Protocols of rxstreams: what a transport provides, and what users program against.

Transport side (two implementations each: ``memory://`` and ``kafka://``):
:class:`TransportT`, :class:`ConsumerT`, :class:`ReaderT`, :class:`ProducerT`,
:class:`RebalanceListenerT`, :class:`MessageT`. A third-party broker plugs in by
implementing them and registering a factory in the ``rxstreams.transports`` entry-point
group.

User side (the Faust API): :class:`AgentT`, :class:`StreamT`, :class:`EventT`, and
:class:`CodecT` for serializers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import ConfigurationError
from .messages import GroupMetadata, Headers, RecordMetadata, TopicPartition, TopicSpec

__all__ = (
    "AgentT",
    "CodecT",
    "ConsumerConfig",
    "ConsumerT",
    "EventT",
    "MessageT",
    "ProducerConfig",
    "ProducerT",
    "ReaderConfig",
    "ReaderT",
    "RebalanceListenerT",
    "StreamT",
    "TransportT",
)


# -- transport side -----------------------------------------------------------------------


class MessageT(Protocol):
    """A consumed record. Timestamps are milliseconds, as on the wire."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """What the app asks of a group consumer; each transport maps it to its own options."""

    group_id: str
    client_id: str
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    rebalance_timeout: float = 30.0
    max_poll_records: int = 1000
    fetch_max_wait: float = 0.5
    #: ``read_committed``: records of open or aborted transactions are never returned
    isolation_level: IsolationLevel = "read_uncommitted"

    def __post_init__(self) -> None:
        _check_isolation(self.isolation_level)
        # the one place consumer settings are checked: the app's settings build one of
        # these when they are created, and transports rely on it
        for name in ("group_id", "client_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{name} must be a non-empty string, got {value!r}")
        if self.auto_offset_reset not in ("earliest", "latest"):
            raise ConfigurationError(
                f"auto_offset_reset must be 'earliest' or 'latest', got {self.auto_offset_reset!r}"
            )
        _check_seconds("session_timeout", self.session_timeout, zero_ok=False)
        _check_seconds("heartbeat_interval", self.heartbeat_interval, zero_ok=False)
        _check_seconds("rebalance_timeout", self.rebalance_timeout, zero_ok=False)
        _check_seconds("fetch_max_wait", self.fetch_max_wait, zero_ok=True)
        count = self.max_poll_records
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigurationError(f"max_poll_records must be an integer >= 1, got {count!r}")


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """What the app asks of a reader (:class:`ReaderT`); validated when it is made.

    ``fetch_max_wait`` is how long the broker may hold a fetch that found nothing new
    (Kafka's ``fetch.max.wait.ms``; a broker that does not wake a waiting fetch on new
    data makes it the reader's latency). ``max_poll_records`` bounds a batch when
    ``getmany`` is given no ``max_records``. ``request_timeout`` bounds a request the
    reader waits for (metadata, an offset lookup for a seek) before it raises
    :class:`~rxstreams.errors.BrokerUnavailableError`.
    """

    client_id: str
    fetch_max_wait: float = 0.5
    max_poll_records: int = 1000
    request_timeout: float = 30.0
    isolation_level: IsolationLevel = "read_uncommitted"

    def __post_init__(self) -> None:
        _check_isolation(self.isolation_level)
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigurationError(
                f"client_id must be a non-empty string, got {self.client_id!r}"
            )
        _check_seconds("fetch_max_wait", self.fetch_max_wait, zero_ok=True)
        _check_seconds("request_timeout", self.request_timeout, zero_ok=False)
        if self.fetch_max_wait >= self.request_timeout:
            raise ConfigurationError(
                f"fetch_max_wait ({self.fetch_max_wait}s) must be shorter than "
                f"request_timeout ({self.request_timeout}s): a fetch waits that long on the broker"
            )
        count = self.max_poll_records
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigurationError(f"max_poll_records must be an integer >= 1, got {count!r}")


IsolationLevel = Literal["read_uncommitted", "read_committed"]


def _check_isolation(level: object) -> None:
    if level not in ("read_uncommitted", "read_committed"):
        raise ConfigurationError(
            f"isolation_level must be 'read_uncommitted' or 'read_committed', got {level!r}"
        )


def _check_seconds(name: str, value: object, *, zero_ok: bool) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        bound = ">= 0" if zero_ok else "> 0"
        raise ConfigurationError(
            f"{name} must be a finite number of seconds {bound}, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """What the app asks of a producer; each transport maps it to its own options.

    Validated here, once, rather than in :class:`~rxstreams.settings.Settings`: a transport
    receives this object whether an app built it (``Settings.producer_config()``, called
    when the app is created) or a test or tool did, so no transport can get an invalid
    one. Errors name the app setting (``producer_acks`` for ``acks``, and so on).

    Attributes:
        client_id: the name the producer gives the broker.
        linger: seconds a record may wait for others to fill its batch.
        max_batch_size: bytes of records batched per partition before a batch is sent.
        acks: ``"all"`` (every in-sync replica has the record), ``1`` (the leader has
            it) or ``0`` (sent, no reply awaited); ``-1`` is taken as ``"all"``.
        idempotence: ``None`` (on where the broker supports it, else off with a
            warning), ``True`` (required: starting fails where the broker refuses it) or
            ``False`` (off). ``None`` with ``acks`` 0 or 1 is off; ``True`` needs
            ``acks="all"``.
        compression: ``None``, ``"gzip"``, ``"snappy"``, ``"lz4"`` or ``"zstd"``.
        request_timeout: seconds the broker may take to acknowledge a batch; a batch not
            delivered in that time fails.
        max_request_size: the largest request, in bytes: a bigger record is refused.
        transactional_id: makes the producer transactional (see :class:`ProducerT`); a
            newer producer started with the same id fences this one. Needs idempotence
            (not ``False``) and ``acks="all"``.
        transaction_timeout: seconds a transaction may stay open before the broker
            aborts it (and fences the producer). Readers that read committed records
            wait behind a transaction left open by a dead producer that long at most.
    """

    client_id: str
    linger: float = 0.0
    max_batch_size: int = 16384
    acks: Literal[0, 1, -1, "all"] = "all"
    idempotence: bool | None = None
    compression: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    request_timeout: float = 40.0
    max_request_size: int = 1_048_576
    transactional_id: str | None = None
    transaction_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.acks == -1 and type(self.acks) is int:
            object.__setattr__(self, "acks", "all")
        checks: tuple[tuple[str, object, bool, str], ...] = (
            ("linger", self.linger, _number(self.linger) and self.linger >= 0, ">= 0 seconds"),
            ("max_batch_size", self.max_batch_size, _size(self.max_batch_size), "> 0 bytes"),
            (
                "acks",
                self.acks,
                type(self.acks) in (int, str) and self.acks in (0, 1, "all"),
                "0, 1 or 'all' (-1 means 'all')",
            ),
            (
                "idempotence",
                self.idempotence,
                self.idempotence is None or type(self.idempotence) is bool,
                "None (on where the broker supports it), True (required) or False",
            ),
            (
                "compression",
                self.compression,
                self.compression in _COMPRESSIONS,
                "None, 'gzip', 'snappy', 'lz4' or 'zstd'",
            ),
            (
                "request_timeout",
                self.request_timeout,
                _number(self.request_timeout) and self.request_timeout > 0,
                "> 0 seconds",
            ),
            ("max_request_size", self.max_request_size, _size(self.max_request_size), "> 0 bytes"),
            (
                "transactional_id",
                self.transactional_id,
                self.transactional_id is None
                or (isinstance(self.transactional_id, str) and bool(self.transactional_id)),
                "None or a non-empty string",
            ),
            (
                "transaction_timeout",
                self.transaction_timeout,
                _number(self.transaction_timeout) and self.transaction_timeout > 0,
                "> 0 seconds",
            ),
        )
        for name, value, valid, allowed in checks:
            if not valid:
                setting = name if name.startswith("transaction") else f"producer_{name}"
                raise ConfigurationError(f"setting {setting} must be {allowed}, got {value!r}")
        if self.idempotence is True and self.acks != "all":
            raise ConfigurationError(
                f"setting producer_idempotence=True needs producer_acks='all', got "
                f"producer_acks={self.acks!r} (an idempotent producer waits for every in-sync "
                "replica): set producer_acks='all', or producer_idempotence to None or False"
            )
        if self.transactional_id is not None and (self.idempotence is False or self.acks != "all"):
            raise ConfigurationError(
                "a transactional producer (exactly-once) is idempotent and waits for every "
                f"in-sync replica: got producer_acks={self.acks!r}, producer_idempotence="
                f"{self.idempotence!r}; use producer_acks='all' and producer_idempotence None "
                "or True"
            )


_COMPRESSIONS = (None, "gzip", "snappy", "lz4", "zstd")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _size(value: object) -> bool:
    return type(value) is int and value > 0


class RebalanceListenerT(Protocol):
    """Called by a consumer, from inside :meth:`ConsumerT.getmany`, around a rebalance.

    ``on_partitions_revoked`` runs before the consumer gives partitions up (the app commits
    its acked work there); ``on_partitions_assigned`` after it receives new ones.
    """

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None: ...

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None: ...


class ConsumerT(Protocol):
    """A member of a consumer group, committing offsets by hand only."""

    async def start(self) -> None:
        """Join the group. Partitions arrive through the listener during ``getmany``."""

    async def stop(self) -> None:
        """Leave the group (no commit: the app commits before it stops a consumer)."""

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[MessageT]]:
        """Fetch a batch from the assigned, unpaused partitions; wait at most ``timeout``.

        Rebalances happen inside this call, through the listener.
        """

    def subscribe(self, topics: Collection[str]) -> None:
        """Subscribe to these topics instead; the group rebalances to hand them out."""

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now."""

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning records for these partitions until resumed."""

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Return records for these partitions again."""

    def paused(self) -> frozenset[TopicPartition]:
        """The partitions paused now."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit "next offset to read" per partition; raise CommitFailedError when fenced."""

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of a partition, or None."""

    def highwater(self, partition: TopicPartition) -> int | None:
        """The last known end of the log of an assigned partition (for lag), or None."""

    def position(self, partition: TopicPartition) -> int | None:
        """The next offset this member hands out for an assigned partition, if known."""

    def group_metadata(self) -> GroupMetadata:
        """Who this member is in its group now (for offsets sent in a transaction)."""


class ReaderT(Protocol):
    """A consumer that belongs to no group: it reads the partitions it is given.

    Nothing is committed and no group is joined or created on the broker; the caller
    says where to read from. For reading a topic outside any group: the app's reply
    topic, and a table's changelog from a stored offset to its end. Typical use::

        reader = transport.create_reader(ReaderConfig(client_id="app-replies"))
        await reader.start()
        partitions = [TopicPartition(topic, p) for p in await reader.partitions_for(topic)]
        await reader.assign(partitions)
        await reader.seek_to_end(partitions)      # or seek(), seek_to_beginning()
        batch = await reader.getmany(timeout=1.0)

    :meth:`partitions_for`, :meth:`assign`, the seeks and :meth:`getmany` raise
    :class:`~rxstreams.errors.AppStateError` before :meth:`start` and
    :class:`~rxstreams.errors.BrokerUnavailableError` after :meth:`stop`;
    :meth:`assignment`, :meth:`position` and :meth:`highwater` then report nothing.
    A partition newly assigned starts at the start of its log; a position outside the
    log (a seek past the end, a record removed by retention) moves to the log start when
    it is next fetched, as Kafka's ``auto.offset.reset=earliest`` does.
    """

    async def start(self) -> None:
        """Connect. Nothing is assigned until :meth:`assign`."""

    async def stop(self) -> None:
        """Close; a waiting :meth:`getmany` returns ``{}``. Stopping twice is fine."""

    async def partitions_for(self, topic: str) -> Sequence[int]:
        """The partition numbers of ``topic``, ascending (asks the broker).

        Raises :class:`~rxstreams.errors.UnknownTopicError` if the topic does not exist.
        """

    async def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions instead of the ones assigned before.

        Partitions that stay assigned keep their position; new ones start at their log
        start. Raises :class:`~rxstreams.errors.UnknownTopicError`, and changes nothing,
        if a topic or partition does not exist.
        """

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions assigned now."""

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next fetch of an assigned partition start at ``offset``.

        Raises :class:`~rxstreams.errors.AppStateError` if the partition is not assigned,
        :class:`~rxstreams.errors.ConfigurationError` if ``offset`` is not an int >= 0.
        """

    async def seek_to_beginning(self, partitions: Iterable[TopicPartition]) -> None:
        """Move assigned partitions to the oldest record still stored.

        Raises :class:`~rxstreams.errors.AppStateError` if one is not assigned (as do
        :meth:`seek_to_end` and :meth:`seek`).
        """

    async def seek_to_end(self, partitions: Iterable[TopicPartition]) -> None:
        """Move assigned partitions to their end: only records appended later are read.

        Every record appended after this returns is read; records appended while it
        runs may be skipped. On Kafka it costs a ListOffsets round trip.
        """

    def position(self, partition: TopicPartition) -> int | None:
        """The offset of the next record :meth:`getmany` returns for an assigned partition.

        None when the partition is not assigned, or its position is not known yet (on
        Kafka, right after :meth:`assign`, until the broker said where the log starts).
        """

    def highwater(self, partition: TopicPartition) -> int | None:
        """The end of an assigned partition's log (the offset the next record gets).

        As last seen: on Kafka from the last fetch response, so None until the first one
        after :meth:`assign`. A partition is read to its end when
        ``position(tp) >= highwater(tp)``.
        """

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[MessageT]]:
        """Fetch a batch from the assigned partitions; wait at most ``timeout`` seconds.

        Records of a partition come in offset order. ``max_records`` defaults to
        ``max_poll_records``. Returns ``{}`` on timeout and when :meth:`stop` ends the wait.
        """


class ProducerT(Protocol):
    """Sends records; keyed records with no partition go to ``hash(key) % partitions``.

    **Transactions** (a producer made with ``transactional_id``; Kafka's model): every
    send happens between :meth:`begin_transaction` and :meth:`commit_transaction` or
    :meth:`abort_transaction` (a send outside one raises
    :class:`~rxstreams.errors.AppStateError`). Records sent in a transaction are written
    to the logs at once, with their offsets, but readers with
    ``isolation_level="read_committed"`` see them only once it commits, and never if it
    aborts; the end of each partition a transaction wrote gets a marker that takes an
    offset (committed offsets have gaps). Offsets given to
    :meth:`send_offsets_to_transaction` become the group's committed offsets when the
    transaction commits, atomically with its records. Starting a producer with the
    transactional id of another one aborts the other's open transaction and fences it:
    its next call raises :class:`~rxstreams.errors.ProducerFencedError`. A producer
    without ``transactional_id`` raises :class:`~rxstreams.errors.AppStateError` from the
    transaction methods.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush, then close."""

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue a record; the returned future resolves when the broker has it."""

    async def flush(self) -> None:
        """Wait until every queued record is on the broker."""

    async def send_batch(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, int | None]]
    ) -> list[RecordMetadata]:
        """Send ``(key, value, partition)`` records (partition None: by key) and wait until
        the broker has all of them; where each landed, in order. The cheap way to send
        many records at once (a table's changelog at each commit)."""

    async def begin_transaction(self) -> None:
        """Open a transaction; raises AppStateError if one is open already."""

    async def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, int], group: GroupMetadata
    ) -> None:
        """Commit ``offsets`` for ``group`` when (and only if) the transaction commits.

        Raises :class:`~rxstreams.errors.CommitFailedError` when the group coordinator
        refuses them: ``group`` is not the member's current generation (the group moved
        on; a zombie). The transaction must then be aborted.
        """

    async def commit_transaction(self) -> None:
        """Flush, then make the transaction's records and offsets visible, atomically."""

    async def abort_transaction(self) -> None:
        """Discard the open transaction: its records are never visible to committed
        readers, its offsets never committed."""


class TransportT(Protocol):
    """A broker connection factory, found by URL scheme in ``rxstreams.transports``."""

    @property
    def url(self) -> str: ...

    def create_consumer(
        self, topics: Collection[str], listener: RebalanceListenerT, config: ConsumerConfig
    ) -> ConsumerT: ...

    def create_producer(self, config: ProducerConfig) -> ProducerT: ...

    def create_reader(self, config: ReaderConfig) -> ReaderT:
        """A reader outside any consumer group (not started)."""

    async def create_topics(self, topics: Sequence[TopicSpec]) -> None:
        """Create the topics that do not exist yet; existing ones are left as they are."""

    async def partition_count(self, topic: str) -> int | None:
        """How many partitions a topic has, or None if it does not exist."""

    async def close(self) -> None: ...


# -- user side ------------------------------------------------------------------------------


@runtime_checkable
class CodecT(Protocol):
    """Turns keys or values into bytes and back."""

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class EventT(Protocol):
    """Type interface for stream events."""

    @property
    def key(self) -> Any: ...
    @property
    def value(self) -> Any: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def timestamp(self) -> float: ...

    def ack(self) -> bool: ...

    def reject(self) -> None: ...

    async def send(self, channel: Any, **kwargs: Any) -> Any: ...

    async def forward(self, channel: Any, **kwargs: Any) -> Any: ...


class StreamT(Protocol):
    """Type interface for data streams."""

    def __aiter__(self) -> AsyncIterator[Any]: ...

    def filter(self, fun: Any) -> Any: ...

    def map(self, fun: Any) -> Any: ...

    def group_by(self, key: Any, *, name: str | None = None, topic: Any = None) -> Any: ...


class AgentT(Protocol):
    """Type interface for stream processing agents."""

    async def send(
        self, value: Any = None, *, key: Any = None, partition: int | None = None
    ) -> Any: ...

    async def ask(
        self,
        value: Any = None,
        *,
        key: Any = None,
        partition: int | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> Any: ...

    def cast(self, value: Any = None, *, key: Any = None, partition: int | None = None) -> Any: ...
