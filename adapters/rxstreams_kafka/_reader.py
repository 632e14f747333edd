"""A Kafka reader in no consumer group, implementing :class:`rxstreams.types.ReaderT`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    ConfigurationError,
    UnknownTopicError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import TopicPartition
from rxstreams.types import MessageT, ReaderConfig

from ._config import reader_kwargs
from ._consumer import _end
from ._errors import translate_errors
from ._handshake import explained

__all__ = ("KafkaReader",)

log = get_logger(__name__)

_State = Literal["created", "started", "stopped"]
_new_tp = tuple.__new__  # TopicPartition(...) without the generated __new__'s overhead


def _theirs(tp: TopicPartition) -> Any:
    return _new_tp(KafkaTopicPartition, tp)


class KafkaReader:
    """Reads the partitions it is assigned with an ``AIOKafkaConsumer`` of no group.

    ``group_id=None``: no FindCoordinator, JoinGroup or commit is ever sent, so reading
    leaves no group behind on the broker. Positions are set by hand (:meth:`assign`,
    :meth:`seek`, :meth:`seek_to_beginning`, :meth:`seek_to_end`); a position outside the
    log moves to the log start: Kafka answers a fetch there with OFFSET_OUT_OF_RANGE, and
    aiokafka resets it (``auto_offset_reset="earliest"``). Records
    are aiokafka's ``ConsumerRecord`` objects, which have every
    :class:`~rxstreams.types.MessageT` attribute.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        config: ReaderConfig,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._bootstrap = list(bootstrap_servers)
        self._config = config
        self._security = dict(security or {})  # security_kwargs(credentials)
        self._kwargs = {**reader_kwargs(config), **self._security}
        self._consumer: Any = None
        self._state: _State = "created"
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._polling = False
        self._changed = asyncio.Event()  # the assignment changed, or the reader stopped
        self._log = log.bind(client_id=config.client_id)

    def __repr__(self) -> str:
        return f"<KafkaReader {self._config.client_id!r} {self._state}>"

    @property
    def config(self) -> ReaderConfig:
        """The configuration this reader was created with."""
        return self._config

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._state == "stopped"

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (bootstrap the cluster metadata); BrokerUnavailableError if no server answers."""
        if self._state == "started":
            return
        if self._state == "stopped":
            raise AppStateError("a stopped reader cannot be started again: create a new one")
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, **self._kwargs)
        doing = f"connecting reader {self._config.client_id!r}"
        try:
            async with explained(self._bootstrap, self._security, doing):
                with translate_errors(doing):
                    await consumer.start()
        except BaseException:
            await asyncio.shield(consumer.stop())
            raise
        self._consumer = consumer
        self._state = "started"
        self._log.debug("reader_started")

    async def stop(self) -> None:
        """Close the connections; a waiting :meth:`getmany` returns ``{}``."""
        consumer = self._consumer
        self._state = "stopped"
        self._consumer = None
        self._assigned = frozenset()
        self._changed.set()
        if consumer is not None:
            with translate_errors(f"stopping reader {self._config.client_id!r}"):
                await consumer.stop()
            self._log.debug("reader_stopped")

    # -- partitions -----------------------------------------------------------------------

    async def partitions_for(self, topic: str) -> list[int]:
        """The partition numbers of ``topic`` (fresh metadata); UnknownTopicError if none."""
        cluster = await self._metadata("partitions_for")
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise self._unknown_topic(topic)
        return sorted(partitions)

    async def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions instead; kept ones keep their position, new ones start
        at their log start. UnknownTopicError (and no change) if one does not exist.

        Asks the broker for metadata first: aiokafka alone would fetch an unknown
        partition forever without an error.
        """
        if isinstance(partitions, TopicPartition):
            raise ConfigurationError(
                f"assign() takes a collection of partitions, not the single {partitions}"
            )
        tps = frozenset(partitions)
        cluster = await self._metadata("assign")
        for tp in sorted(tps):
            known = cluster.partitions_for_topic(tp.topic)
            if not known:
                raise self._unknown_topic(tp.topic)
            if tp.partition not in known:
                raise UnknownTopicError(
                    f"reader {self._config.client_id!r} cannot read {tp}: topic "
                    f"{tp.topic!r} has {len(known)} partition(s), numbered from 0"
                )
        consumer = self._check_started("assign")
        kept = {tp: self.position(tp) for tp in tps & self._assigned}
        with translate_errors(f"assigning {sorted(tps)}"):
            consumer.assign([_theirs(tp) for tp in sorted(tps)])
            for tp, position in kept.items():
                if position is not None:  # else it is reset to the log start, as new ones
                    consumer.seek(_theirs(tp), position)
        self._assigned = tps
        self._changed.set()
        self._log.debug("partitions_assigned", partitions=sorted(tps))

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions assigned now."""
        return self._assigned

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next fetch of ``partition`` start at ``offset``."""
        consumer = self._check_assigned("seek", [partition])[0]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ConfigurationError(f"cannot seek {partition} to {offset!r}: use an int >= 0")
        with translate_errors(f"seeking {partition} to {offset}"):
            consumer.seek(_theirs(partition), offset)

    async def seek_to_beginning(self, partitions: Iterable[TopicPartition]) -> None:
        """Move these assigned partitions to their log start (ListOffsets EARLIEST)."""
        consumer, tps = self._check_assigned("seek_to_beginning", partitions)
        if tps:
            await self._reset(consumer, tps, "beginning")

    async def seek_to_end(self, partitions: Iterable[TopicPartition]) -> None:
        """Move these assigned partitions to their end (ListOffsets LATEST): only records
        appended after this returns are read."""
        consumer, tps = self._check_assigned("seek_to_end", partitions)
        if tps:
            await self._reset(consumer, tps, "end")

    async def _reset(self, consumer: Any, tps: Sequence[TopicPartition], to: str) -> None:
        seek = consumer.seek_to_beginning if to == "beginning" else consumer.seek_to_end
        with translate_errors(f"seeking {sorted(tps)} to the {to}"):
            done = await seek(*(_theirs(tp) for tp in tps))
        if not done:
            raise BrokerUnavailableError(
                f"seeking {sorted(tps)} to the {to} got no answer in "
                f"{self._config.request_timeout}s (request_timeout); is the broker running?"
            )

    def position(self, partition: TopicPartition) -> int | None:
        """The next offset :meth:`getmany` returns for an assigned partition, if known.

        aiokafka's own ``position()`` is a coroutine that waits for an offset reset; this
        reads the subscription state as it is (None while the position is being reset).
        """
        if self._consumer is None or partition not in self._assigned:
            return None
        subscription = self._consumer._subscription.subscription
        if subscription is None or subscription.assignment is None:
            return None
        try:
            state = subscription.assignment.state_value(_theirs(partition))
        except (KeyError, AssertionError):
            return None
        if state is None or not state.has_valid_position:
            return None
        position: int = state.position
        return position

    def highwater(self, partition: TopicPartition) -> int | None:
        """The log end of an assigned partition as of the last fetch response, or None
        (reading ``read_committed``: the last stable offset)."""
        if self._consumer is None or partition not in self._assigned:
            return None
        return _end(self._consumer, self._config.isolation_level, _theirs(partition))

    # -- fetching -------------------------------------------------------------------------

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> dict[TopicPartition, Sequence[MessageT]]:
        """Fetch a batch from the assigned partitions; wait at most ``timeout`` seconds.

        With nothing assigned, waits for :meth:`assign` (or the timeout) and returns ``{}``.
        """
        consumer = self._check_started("getmany")
        if max_records is not None and (
            not isinstance(max_records, int) or isinstance(max_records, bool) or max_records < 1
        ):
            raise ConfigurationError(f"max_records must be an integer >= 1, got {max_records!r}")
        if self._polling:
            raise AppStateError("getmany is already running on this reader")
        self._polling = True
        try:
            if not self._assigned:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._changed.wait()
                return {}
            with translate_errors(f"fetching for reader {self._config.client_id!r}"):
                batch = await consumer.getmany(
                    *(_theirs(tp) for tp in self._assigned),
                    timeout_ms=round(timeout * 1000),
                    max_records=max_records,
                )
        finally:
            self._polling = False
        return {_new_tp(TopicPartition, tp): records for tp, records in batch.items()}

    # -- helpers --------------------------------------------------------------------------

    async def _metadata(self, operation: str) -> Any:
        """Fresh metadata of every topic (naming topics could make a broker create them)."""
        consumer = self._check_started(operation)
        try:
            async with asyncio.timeout(self._config.request_timeout):
                with translate_errors(f"{operation}(): reading the cluster metadata"):
                    # AIOKafkaConsumer.topics() asks the same, but returns names only
                    return await consumer._client.fetch_all_metadata()
        except TimeoutError as exc:
            raise BrokerUnavailableError(
                f"{operation}(): no cluster metadata within {self._config.request_timeout}s "
                "(request_timeout); is the broker running?"
            ) from exc

    def _check_started(self, operation: str) -> Any:
        if self._state == "created":
            raise AppStateError(f"{operation}() before start(): await reader.start() first")
        if self._state == "stopped" or self._consumer is None:
            raise BrokerUnavailableError(
                f"{operation}() on a stopped reader ({self._config.client_id!r}): create a new one",
                retriable=False,
            )
        return self._consumer

    def _check_assigned(
        self, operation: str, partitions: Iterable[TopicPartition]
    ) -> tuple[Any, list[TopicPartition]]:
        consumer = self._check_started(operation)
        if isinstance(partitions, TopicPartition):
            raise ConfigurationError(
                f"{operation}() takes a collection of partitions, not the single {partitions}"
            )
        tps = list(partitions)
        foreign = sorted(tp for tp in tps if tp not in self._assigned)
        if foreign:
            raise AppStateError(
                f"{operation}() on partitions not assigned to reader "
                f"{self._config.client_id!r}: {foreign} (assigned: {sorted(self._assigned)}); "
                "assign them first"
            )
        return consumer, tps

    def _unknown_topic(self, topic: str) -> UnknownTopicError:
        return UnknownTopicError(
            f"reader {self._config.client_id!r} cannot read topic {topic!r}: it does not "
            f"exist on {','.join(self._bootstrap)} (declare it first, e.g. with create_topics)"
        )
