"""A Kafka producer, implementing :class:`rxstreams.types.ProducerT`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    CommitFailedError,
    ConfigurationError,
    TransportError,
    UnknownTopicError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, Headers, RecordMetadata, TopicPartition
from rxstreams.types import ProducerConfig

from ._config import producer_kwargs
from ._errors import KAFKA_ERRORS, translate, translate_errors
from ._handshake import explained
from ._producer_id import REFUSED, quiet_refusal, refusal
from ._txn_offsets import install as install_fenced_offsets

__all__ = ("KafkaProducer",)

log = get_logger(__name__)

_State = Literal["created", "started", "stopped"]
_new_metadata = tuple.__new__  # RecordMetadata(...) without the generated __new__'s overhead


class KafkaProducer:
    """Sends records through ``AIOKafkaProducer``, batched per partition by aiokafka.

    Keyed records with no partition go where Kafka's Java client would put them
    (murmur2 of the key), so other Kafka clients agree on the partition of a key.
    Every setting of the config is passed to aiokafka (see ``producer_kwargs``).

    Idempotence ``None`` (the default) asks the broker for a producer id when starting;
    a broker that refuses (Tansu, brokers older than Kafka 0.11, a missing
    ``IdempotentWrite`` permission) gets a producer without idempotence and one
    ``producer_idempotence_unavailable`` warning. Nothing can be lost or sent twice by
    that fallback: it happens inside :meth:`start`, before anything can be sent.
    Idempotence ``True`` raises :class:`ConfigurationError` from :meth:`start` there.

    With ``transactional_id``, the producer is transactional (see
    :class:`~rxstreams.types.ProducerT`): :meth:`start` fences any older producer with the
    same id, and offsets sent in a transaction carry the member's generation, so the
    group coordinator refuses them from a member the group moved on from (KIP-447; see
    ``_txn_offsets``). A broker that refuses transactions makes :meth:`start` raise
    :class:`ConfigurationError`.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        config: ProducerConfig,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._kwargs = producer_kwargs(config)  # ConfigurationError now, not at start
        self._security = dict(security or {})  # security_kwargs(credentials)
        self._bootstrap = list(bootstrap_servers)
        self._config = config
        self._idempotent: bool | None = None
        self._producer: Any = None
        self._failure: BaseException | None = None
        self._state: _State = "created"
        self._transactional = config.transactional_id is not None
        self._in_transaction = False
        #: the group member whose offsets the open transaction commits (see _txn_offsets)
        self._member: GroupMetadata | None = None
        self._log = log.bind(client_id=config.client_id)

    def __repr__(self) -> str:
        return f"<KafkaProducer {self._config.client_id!r} {self._state}>"

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._state == "stopped"

    @property
    def config(self) -> ProducerConfig:
        """The configuration this producer was created with."""
        return self._config

    @property
    def idempotent(self) -> bool | None:
        """Whether the broker deduplicates this producer's retries (None until started)."""
        return self._idempotent

    async def start(self) -> None:
        """Connect; raises :class:`BrokerUnavailableError` if no bootstrap server answers,
        and :class:`ConfigurationError` if idempotence is required but refused."""
        if self._state == "started":
            return
        if self._state == "stopped":
            raise AppStateError("a stopped producer cannot be started again: create a new one")
        kwargs = self._kwargs
        try:
            producer = await self._connect(kwargs)
        except REFUSED as exc:  # raised only when idempotence was asked for
            if self._transactional:
                raise ConfigurationError(
                    f"producer {self._config.client_id!r} is transactional (exactly-once), "
                    f"but {refusal(exc)}. Use a broker with transactions (Kafka 0.11 or "
                    "later; Tansu has none), or processing_guarantee='at_least_once'"
                ) from exc
            if self._config.idempotence:
                raise ConfigurationError(
                    f"producer {self._config.client_id!r} requires idempotence "
                    f"(producer_idempotence=True), but {refusal(exc)}. Use a broker that "
                    "supports idempotent producers (Kafka 0.11 or later; before Kafka 2.8 "
                    "with ACLs, the IdempotentWrite permission on the cluster), or set "
                    "producer_idempotence=None to fall back without it, or False"
                ) from exc
            self._log.warning(
                "producer_idempotence_unavailable",
                reason=refusal(exc),
                effect="sending without idempotence: a send retried after a lost reply "
                "may be written twice",
                silence="set producer_idempotence=False",
            )
            kwargs = producer_kwargs(dataclasses.replace(self._config, idempotence=False))
            producer = await self._connect(kwargs)
        if self._transactional:
            install_fenced_offsets(producer, lambda: self._member)
        self._producer = producer
        self._idempotent = bool(kwargs["enable_idempotence"])
        self._state = "started"

    async def _connect(self, kwargs: dict[str, Any]) -> Any:
        """A started ``AIOKafkaProducer``, closed again if starting fails. aiokafka's errors
        are translated, but for a refused producer id (:data:`REFUSED`) when idempotence
        was asked for: :meth:`start` handles that one."""
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, **kwargs, **self._security)
        try:
            with quiet_refusal():
                await producer.start()
        except BaseException as exc:
            await asyncio.shield(producer.stop())
            if not isinstance(exc, KAFKA_ERRORS):
                raise
            if isinstance(exc, REFUSED) and kwargs["enable_idempotence"]:
                raise
            doing = f"connecting producer {self._config.client_id!r}"
            async with explained(self._bootstrap, self._security, doing):
                raise translate(exc, doing) from exc
        return producer

    async def stop(self) -> None:
        """Flush what is queued, then close; later sends raise BrokerUnavailableError.

        An open transaction is aborted first (Kafka's producers never commit on close).
        """
        producer = self._producer
        if producer is not None and self._in_transaction:
            with contextlib.suppress(TransportError):
                await self.abort_transaction()
        self._state = "stopped"
        self._producer = None
        if producer is not None:
            with translate_errors(f"stopping producer {self._config.client_id!r}"):
                await producer.stop()
            self._log.debug("producer_stopped")

    async def flush(self) -> None:
        """Send what lingers now, wait until every record sent so far is on the broker,
        and raise the first delivery failure since the last flush (never retriable).

        The app flushes before every commit: raising here keeps it from committing the
        offsets of events whose output never reached the broker, even when nobody awaited
        the futures :meth:`send` returned. aiokafka's own ``flush()`` lets batches wait
        out ``linger`` first; this one closes the open batches (as aiokafka does before
        committing a transaction) to send them at once.
        """
        producer = self._producer
        if producer is not None:
            accumulator = getattr(producer, "_message_accumulator", None)
            flush_now = getattr(accumulator, "flush_for_commit", None)
            with translate_errors(f"flushing producer {self._config.client_id!r}"):
                await (flush_now() if flush_now is not None else producer.flush())
        failure, self._failure = self._failure, None
        if failure is not None:
            # never retriable, whatever the cause: aiokafka gave the record up, so flushing
            # again would succeed and let the app commit past the event that produced it
            raise TransportError(
                f"producer {self._config.client_id!r}: a record sent before this flush was "
                f"not delivered ({failure}); the records it was produced from must be "
                "processed again (they are, after a restart: their offsets were not committed)",
                retriable=False,
            ) from failure

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
        """Queue a record; the returned future resolves to where it landed (with acks=0,
        the broker does not say: the offset is -1, and so is the partition unless given).

        Raises :class:`UnknownTopicError` for a partition the topic does not have. A
        delivery failure (the broker went away for longer than aiokafka's request
        timeout) fails the future with a :class:`TransportError`.
        """
        producer = self._producer
        if producer is None:
            self._check_started()
        if self._transactional and not self._in_transaction:
            raise AppStateError(
                f"producer {self._config.client_id!r} is transactional: send between "
                "begin_transaction() and commit_transaction()"
            )
        if value is None and key is None:
            raise TransportError(
                f"a record for {topic!r} needs a key or a value: aiokafka cannot send "
                "one with neither (send a tombstone with its key)"
            )
        try:
            if partition is not None:
                await self._check_partition(topic, partition)
            sent = await producer.send(
                topic,
                value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=None if not headers else list(headers),  # aiokafka: a list
            )
        except KAFKA_ERRORS as exc:
            raise translate(exc, f"sending to {topic!r}") from exc
        future: asyncio.Future[RecordMetadata] = sent.get_loop().create_future()
        if self._config.acks == 0:  # no answer will say where it landed: keep what we know
            sent.add_done_callback(
                lambda done: self._delivered(future, done, topic, partition, timestamp_ms)
            )
        else:  # measured: passing those two as well costs ~5 % of the CPU time of a send
            sent.add_done_callback(lambda done: self._delivered(future, done, topic))
        return future

    async def send_batch(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, int | None]]
    ) -> list[RecordMetadata]:
        """Queue ``(key, value, partition)`` records, batched by aiokafka, and wait until
        the broker has all of them; where each landed, in order."""
        futures = [
            await self.send(topic, value, key=key, partition=partition)
            for key, value, partition in records
        ]
        return list(await asyncio.gather(*futures))

    def _delivered(
        self,
        future: asyncio.Future[RecordMetadata],
        sent: Any,
        topic: str,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Resolve our future from aiokafka's (same outcome, our types); remember a
        failure for :meth:`flush` to raise. ``partition`` and ``timestamp_ms`` are what
        the record was sent with: with acks=0 the broker does not say where it landed."""
        if sent.cancelled():
            if not future.done():
                future.cancel()
            return
        exc = sent.exception()
        if exc is not None:
            if isinstance(exc, KAFKA_ERRORS):
                exc = translate(exc, f"delivering a record to {topic!r}")
            if self._failure is None:
                self._failure = exc
            if not future.done():
                future.set_exception(exc)
            return
        if future.done():  # cancelled by its owner
            return
        md = sent.result()
        if md is None:  # acks=0: aiokafka resolves to None, as no answer comes back
            landed, offset, timestamp = -1 if partition is None else partition, -1, timestamp_ms
        else:
            landed, offset, timestamp = md.partition, md.offset, md.timestamp
        if timestamp is None or timestamp < 0:  # a broker that does not say
            timestamp = time.time_ns() // 1_000_000
        future.set_result(_new_metadata(RecordMetadata, (topic, landed, offset, timestamp)))

    # -- transactions -----------------------------------------------------------------------

    async def begin_transaction(self) -> None:
        """Open a transaction (see :class:`~rxstreams.types.ProducerT`)."""
        producer = self._transaction_producer("begin_transaction")
        if self._in_transaction:
            raise AppStateError("begin_transaction(): a transaction is open already")
        with translate_errors(f"beginning a transaction of {self._config.client_id!r}"):
            await producer.begin_transaction()
        self._in_transaction = True

    async def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, int], group: GroupMetadata
    ) -> None:
        """Commit ``offsets`` for ``group`` with the transaction, if it commits.

        Raises :class:`CommitFailedError` when ``group`` is not a member of its group's
        current generation (the coordinator refused them, or the member has no
        generation): the transaction can then only be aborted.
        """
        producer = self._open_transaction("send_offsets_to_transaction")
        if not offsets:
            return
        if group.generation_id < 0 or not group.member_id:
            # v3 of the request with no generation is not checked by the coordinator
            raise CommitFailedError(
                f"offsets for group {group.group_id!r} not sent: the consumer is not a "
                "member of a generation of the group (it left, or was expelled); abort "
                "the transaction: its input is processed again by the partitions' owner"
            )
        theirs = {KafkaTopicPartition(tp.topic, tp.partition): o for tp, o in offsets.items()}
        self._member = group
        try:
            with translate_errors(f"sending offsets of group {group.group_id!r} to a transaction"):
                await producer.send_offsets_to_transaction(theirs, group.group_id)
        finally:
            self._member = None

    async def commit_transaction(self) -> None:
        """Flush, then commit the transaction's records and offsets atomically.

        A record of the transaction that failed to be delivered raises
        :class:`TransportError` (as :meth:`flush` does) and leaves the transaction open:
        abort it.
        """
        producer = self._open_transaction("commit_transaction")
        await self.flush()
        with translate_errors(f"committing a transaction of {self._config.client_id!r}"):
            await producer.commit_transaction()
        self._in_transaction = False

    async def abort_transaction(self) -> None:
        """Abort the open transaction: its records and offsets are never visible."""
        producer = self._open_transaction("abort_transaction")
        txn_manager = producer._txn_manager
        waiter = txn_manager.wait_for_transaction_end()
        failed = waiter.exception() if waiter.done() and not waiter.cancelled() else None
        self._failure = None  # records of an aborted transaction do not count
        if txn_manager.is_fatal_error():  # fenced: the broker aborts it; nothing to send
            self._in_transaction = False
            assert failed is not None
            raise translate(failed, f"aborting a transaction of {self._config.client_id!r}")
        try:
            with translate_errors(f"aborting a transaction of {self._config.client_id!r}"):
                await producer.abort_transaction()
        finally:
            self._in_transaction = False

    def _transaction_producer(self, operation: str) -> Any:
        if not self._transactional:
            raise AppStateError(
                f"{operation}(): producer {self._config.client_id!r} is not transactional "
                "(it was made without transactional_id)"
            )
        if self._producer is None:
            self._check_started()
        return self._producer

    def _open_transaction(self, operation: str) -> Any:
        producer = self._transaction_producer(operation)
        if not self._in_transaction:
            raise AppStateError(f"{operation}(): no transaction is open (begin_transaction())")
        return producer

    async def _check_partition(self, topic: str, partition: int) -> None:
        """aiokafka only asserts a partition exists: say it properly instead."""
        partitions = self._producer.client.cluster.partitions_for_topic(topic)
        if partitions is None or partition not in partitions:
            partitions = await self._producer.partitions_for(topic)
            if partition not in partitions:
                raise UnknownTopicError(
                    f"topic {topic!r} has {len(partitions)} partition(s) (0 to "
                    f"{len(partitions) - 1}): partition {partition} does not exist"
                )

    def _check_started(self) -> NoReturn:
        if self._state == "created":
            raise AppStateError("send() before start(): await producer.start() first")
        raise BrokerUnavailableError(
            f"producer {self._config.client_id!r} is stopped: create a new one to send",
            retriable=False,
        )
