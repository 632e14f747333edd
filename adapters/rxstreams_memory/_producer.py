"""A producer on the memory broker, implementing :class:`rxstreams.types.ProducerT`."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    ConfigurationError,
    UnknownTopicError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, Headers, RecordMetadata, TopicPartition
from rxstreams.types import ProducerConfig

if TYPE_CHECKING:
    from ._broker import MemoryBroker
    from ._log import PartitionLog
    from ._transactions import Transaction

__all__ = ("MemoryProducer",)

log = get_logger(__name__)

_new_metadata = tuple.__new__  # RecordMetadata(...) without the generated __new__'s overhead


def _no_partition(topic: str, count: int, partition: int) -> UnknownTopicError:
    return UnknownTopicError(
        f"topic {topic!r} has {count} partition(s) (0 to {count - 1}): "
        f"partition {partition} does not exist"
    )


class MemoryProducer:
    """Appends records to the broker's logs at once: nothing is batched or queued.

    Keyed records with no partition go to ``zlib.crc32(key) % partitions``; unkeyed ones
    go round-robin. A topic that does not exist is created with the broker's
    ``default_partitions`` (like Kafka's ``auto.create.topics.enable``). The producer is
    usable as soon as it is created; :meth:`start` is accepted for the protocol's sake.

    The producer settings are accepted (and validated, by :class:`ProducerConfig`) but
    have nothing to tune here: a record is in the log when :meth:`send` returns, so every
    ``acks`` is satisfied; nothing is retried, so nothing is written twice, as with an
    idempotent producer; nothing is batched, compressed or sent over a network.

    With ``transactional_id`` the producer is transactional, as
    :class:`~rxstreams.types.ProducerT` describes: :meth:`start` (needed then) fences the
    previous producer of that id, records are appended at once but ``read_committed``
    readers see them once the transaction commits, and the broker aborts a transaction
    open longer than ``transaction_timeout`` (loop time) and fences its producer.
    :meth:`stop` aborts an open transaction; a producer dropped without :meth:`stop` (a
    crashed process) leaves it open until the timeout or a new producer of the same id.
    """

    def __init__(self, broker: MemoryBroker, config: ProducerConfig) -> None:
        self._broker = broker
        self._config = config
        self._topics = broker._topics  # name -> Topic, read on every send
        self._round_robin: dict[str, int] = {}
        self._stopped = False
        self._log = log.bind(client_id=config.client_id)
        self._transactional_id = config.transactional_id
        self._epoch: int | None = None  # from the coordinator, at start()
        self._in_transaction = False
        #: send_soon must check first: the producer is stopped, or transactional
        self._guarded = self._transactional_id is not None
        if self._transactional_id is not None:
            self._log = self._log.bind(transactional_id=self._transactional_id)

    @property
    def config(self) -> ProducerConfig:
        """The configuration this producer was created with."""
        return self._config

    async def start(self) -> None:
        """Nothing to connect to; raises if the producer was stopped. A transactional
        producer gets its epoch here, fencing the previous producer of its id."""
        self._check_open()
        if self._transactional_id is not None and self._epoch is None:
            _, self._epoch = self._broker._transactions.init_producer(self._transactional_id)

    async def stop(self) -> None:
        """Close the producer: every later send raises :class:`BrokerUnavailableError`.
        An open transaction is aborted (unless the producer was fenced: it is already)."""
        if self._stopped:
            return
        if self._in_transaction and self._transactional_id is not None and self._epoch is not None:
            self._in_transaction = False
            coordinator = self._broker._transactions
            if coordinator.is_current(self._transactional_id, self._epoch):
                coordinator.end(self._transactional_id, self._epoch, commit=False)
                self._log.debug("transaction_aborted", reason="producer_stopped")
        self._stopped = self._guarded = True
        self._log.debug("producer_stopped")

    async def flush(self) -> None:
        """Return at once: every record sent is already on the broker."""

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
        """Append a record; the returned future is already resolved with where it landed."""
        metadata = self.send_soon(
            topic,
            value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(metadata)
        return future

    async def send_batch(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, int | None]]
    ) -> list[RecordMetadata]:
        """Append ``(key, value, partition)`` records at once; where each landed."""
        send = self.send_soon
        return [
            send(topic, value, key=key, partition=partition) for key, value, partition in records
        ]

    def send_soon(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> RecordMetadata:
        """Append a record now, synchronously (no loop needed), and say where it landed.

        The fast way to pre-produce many records in benchmarks, demos and notebooks.
        Raises :class:`UnknownTopicError` for a partition the topic does not have, and
        :class:`BrokerUnavailableError` after :meth:`stop`. A transactional producer sends
        between :meth:`begin_transaction` and the transaction's end only, from a coroutine
        (the transaction's timeout runs on the event loop).
        """
        if self._guarded:  # stopped, or transactional: the one check on the plain path
            return self._send_guarded(topic, value, key, partition, timestamp_ms, headers)
        found = self._topics.get(topic)
        logs = (found if found is not None else self._broker._auto_create(topic)).logs
        # the same routing as _route(), inline: this is the hot path of benchmarks
        if partition is None:
            if key is None:
                partition = self._round_robin.get(topic, 0) % len(logs)
                self._round_robin[topic] = partition + 1
            else:
                partition = zlib.crc32(key) % len(logs)
        elif not 0 <= partition < len(logs):
            raise _no_partition(topic, len(logs), partition)
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        if headers is None:
            headers = ()
        elif type(headers) is not tuple:
            headers = tuple(headers)
        offset = logs[partition].append(key, value, timestamp_ms, headers)
        return _new_metadata(RecordMetadata, (topic, partition, offset, timestamp_ms))

    def _send_guarded(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        timestamp_ms: int | None,
        headers: Headers | None,
    ) -> RecordMetadata:
        """:meth:`send_soon` of a stopped producer (raises) or of a transactional one."""
        self._check_open()
        txn = self._transaction("send")
        plog = self._route(topic, key, partition)
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        headers = () if headers is None else tuple(headers)
        offset = plog.append_in_transaction(txn, key, value, timestamp_ms, headers)
        txn.written.setdefault(plog, []).append(offset)
        return _new_metadata(RecordMetadata, (topic, plog.partition, offset, timestamp_ms))

    def _route(self, topic: str, key: bytes | None, partition: int | None) -> PartitionLog:
        """The log a record goes to: ``partition``, else by key, else round-robin."""
        found = self._topics.get(topic)
        logs = (found if found is not None else self._broker._auto_create(topic)).logs
        if partition is None:
            if key is None:
                partition = self._round_robin.get(topic, 0) % len(logs)
                self._round_robin[topic] = partition + 1
            else:
                partition = zlib.crc32(key) % len(logs)
        elif not 0 <= partition < len(logs):
            raise _no_partition(topic, len(logs), partition)
        return logs[partition]

    # -- transactions ---------------------------------------------------------------------

    async def begin_transaction(self) -> None:
        """Open a transaction; AppStateError if one is open already."""
        self._check_transactional("begin_transaction")
        if self._in_transaction:
            raise AppStateError(
                f"begin_transaction() while a transaction of producer "
                f"{self._transactional_id!r} is open: commit or abort it first"
            )
        self._in_transaction = True

    async def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, int], group: GroupMetadata
    ) -> None:
        """Commit ``offsets`` for ``group`` if the transaction commits; CommitFailedError
        if ``group`` is not a live member of the group's current generation."""
        txn = self._transaction("send_offsets_to_transaction")
        for tp, offset in offsets.items():
            if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                raise ConfigurationError(f"cannot commit offset {offset!r} for {tp}")
        self._broker._transactions.add_offsets(txn, offsets, group)

    async def commit_transaction(self) -> None:
        """Make the transaction's records and offsets visible, atomically."""
        self._end_transaction("commit_transaction", commit=True)

    async def abort_transaction(self) -> None:
        """Discard the open transaction: its records and offsets are never visible."""
        self._end_transaction("abort_transaction", commit=False)

    def _end_transaction(self, operation: str, *, commit: bool) -> None:
        transactional_id, epoch = self._check_in_transaction(operation)
        self._broker._transactions.end(transactional_id, epoch, commit=commit)
        self._in_transaction = False

    def _transaction(self, operation: str) -> Transaction:
        """The open transaction, made known to the coordinator now if it was not yet."""
        transactional_id, epoch = self._check_in_transaction(operation)
        return self._broker._transactions.open(
            transactional_id, epoch, self._config.transaction_timeout
        )

    def _check_in_transaction(self, operation: str) -> tuple[str, int]:
        found = self._check_transactional(operation)
        if not self._in_transaction:
            raise AppStateError(
                f"{operation}() outside a transaction: producer {self._transactional_id!r} "
                "is transactional, call begin_transaction() first"
            )
        return found

    def _check_transactional(self, operation: str) -> tuple[str, int]:
        """Raise unless this is a started, unfenced transactional producer; returns its
        transactional id and epoch."""
        self._check_open()
        if self._transactional_id is None:
            raise AppStateError(
                f"{operation}() on producer {self._config.client_id!r}, which is not "
                "transactional: give its ProducerConfig a transactional_id"
            )
        if self._epoch is None:
            raise AppStateError(
                f"{operation}() before start(): a transactional producer gets its epoch "
                "(and fences older producers of its id) when it starts"
            )
        self._broker._transactions.check(self._transactional_id, self._epoch)
        return self._transactional_id, self._epoch

    def _check_open(self) -> None:
        if self._stopped:
            raise BrokerUnavailableError(
                f"producer {self._config.client_id!r} is stopped: create a new one to send",
                retriable=False,
            )
