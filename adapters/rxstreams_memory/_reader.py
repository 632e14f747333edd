"""A reader in no group on the memory broker, implementing :class:`rxstreams.types.ReaderT`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    ConfigurationError,
    UnknownTopicError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import Message, TopicPartition
from rxstreams.types import ReaderConfig

from ._batch import take_batch
from ._log import PartitionLog

if TYPE_CHECKING:
    from ._broker import MemoryBroker

__all__ = ("MemoryReader",)

log = get_logger(__name__)

_State = Literal["created", "started", "stopped"]


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class MemoryReader:
    """Reads the partition logs it is assigned, straight from the broker, in no group.

    A waiting :meth:`getmany` wakes as soon as a record is appended to an assigned
    partition, when the assignment or a position changes, and when the reader stops:
    ``fetch_max_wait`` and ``request_timeout`` play no part here.

    With ``isolation_level="read_committed"`` it reads below each partition's last stable
    offset only, skips aborted records, and :meth:`highwater` and :meth:`seek_to_end` use
    that offset; transactions' control markers are never returned.
    """

    def __init__(self, broker: MemoryBroker, config: ReaderConfig) -> None:
        self._broker = broker
        self._config = config
        self._read_committed = config.isolation_level == "read_committed"
        self._state: _State = "created"
        self._order: list[TopicPartition] = []  # the assigned partitions, sorted
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._rotation = 0  # which partition is served first by the next fetch
        self._polling = False
        self._waiter: asyncio.Future[None] | None = None
        self._log = log.bind(client_id=config.client_id)

    def __repr__(self) -> str:
        return f"<MemoryReader {self._config.client_id!r} {self._state}>"

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
        """Get ready to read (the broker is in this process: nothing to connect)."""
        if self._state == "started":
            return
        if self._state == "stopped":
            raise AppStateError("a stopped reader cannot be started again: create a new one")
        self._state = "started"

    async def stop(self) -> None:
        """Forget the assignment; a waiting :meth:`getmany` returns ``{}``."""
        self._state = "stopped"
        self._order = []
        self._logs = {}
        self._positions = {}
        self._wake()

    # -- partitions -----------------------------------------------------------------------

    async def partitions_for(self, topic: str) -> list[int]:
        """The partition numbers of ``topic``; UnknownTopicError if it does not exist."""
        self._check_started("partitions_for")
        count = self._broker.partition_count(topic)
        if count is None:
            raise self._unknown_topic(topic)
        return list(range(count))

    async def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions instead; kept ones keep their position, new ones start
        at their log start. UnknownTopicError (and no change) if one does not exist."""
        self._check_started("assign")
        if isinstance(partitions, TopicPartition):
            raise ConfigurationError(
                f"assign() takes a collection of partitions, not the single {partitions}"
            )
        logs: dict[TopicPartition, PartitionLog] = {}
        for tp in partitions:
            count = self._broker.partition_count(tp.topic)
            if count is None:
                raise self._unknown_topic(tp.topic)
            if not 0 <= tp.partition < count:
                raise UnknownTopicError(
                    f"reader {self._config.client_id!r} cannot read {tp}: topic "
                    f"{tp.topic!r} has {count} partition(s), numbered from 0"
                )
            logs[tp] = self._broker._log(tp)
        self._order = sorted(logs)
        self._logs = logs
        self._positions = {tp: self._positions.get(tp, plog.start) for tp, plog in logs.items()}
        self._log.debug("partitions_assigned", partitions=self._order)
        self._wake()

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions assigned now."""
        return frozenset(self._order)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next fetch of ``partition`` start at ``offset``."""
        self._check_assigned("seek", [partition])
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ConfigurationError(f"cannot seek {partition} to {offset!r}: use an int >= 0")
        self._positions[partition] = offset
        self._wake()

    async def seek_to_beginning(self, partitions: Iterable[TopicPartition]) -> None:
        """Move these assigned partitions to their log start."""
        tps = self._check_assigned("seek_to_beginning", partitions)
        for tp in tps:
            self._positions[tp] = self._logs[tp].start
        self._wake()

    async def seek_to_end(self, partitions: Iterable[TopicPartition]) -> None:
        """Move these assigned partitions to their log end: only later records are read."""
        tps = self._check_assigned("seek_to_end", partitions)
        for tp in tps:
            plog = self._logs[tp]
            self._positions[tp] = plog.stable if self._read_committed else plog.end

    def position(self, partition: TopicPartition) -> int | None:
        """The offset the next fetch reads from an assigned partition, or None."""
        return self._positions.get(partition)

    def highwater(self, partition: TopicPartition) -> int | None:
        """The end offset of an assigned partition's log (``read_committed``: its last
        stable offset), or None if not assigned."""
        plog = self._logs.get(partition)
        if plog is None:
            return None
        return plog.stable if self._read_committed else plog.end

    # -- fetching -------------------------------------------------------------------------

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> dict[TopicPartition, list[Message]]:
        """Fetch a batch from the assigned partitions; wait at most ``timeout`` seconds.

        Takes every record available if they fit in ``max_records``, else an even share
        per partition (the partition served first rotates from call to call).
        """
        self._check_started("getmany")
        limit = self._config.max_poll_records if max_records is None else max_records
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"max_records must be an integer >= 1, got {limit!r}")
        if self._polling:
            raise AppStateError("getmany is already running on this reader")
        self._polling = True
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while self._state == "started":
                first = self._rotation
                self._rotation += 1
                batch = take_batch(
                    self._order,
                    self._logs,
                    self._positions,
                    limit,
                    first=first,
                    reset=self._reset_position,
                    committed=self._read_committed,
                )
                if batch:
                    return batch
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self._wait(loop, remaining)
            return {}
        finally:
            self._polling = False

    async def _wait(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Sleep until a record is appended, the reader changes, or ``timeout`` passes."""
        waiter: asyncio.Future[None] = loop.create_future()
        logs = list(self._logs.values())
        for plog in logs:
            plog.waiters.add(waiter)
        self._waiter = waiter
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
            for plog in logs:
                plog.waiters.discard(waiter)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not waiter.get_loop().is_closed():
            waiter.set_result(None)

    def _reset_position(self, tp: TopicPartition, plog: PartitionLog, position: int) -> int:
        self._log.info(
            "offset_reset",
            topic=tp.topic,
            partition=tp.partition,
            position=position,
            reset_to=plog.start,
        )
        return plog.start

    # -- checks ---------------------------------------------------------------------------

    def _check_started(self, operation: str) -> None:
        if self._state == "created":
            raise AppStateError(f"{operation}() before start(): await reader.start() first")
        if self._state == "stopped":
            raise BrokerUnavailableError(
                f"{operation}() on a stopped reader ({self._config.client_id!r}): create a new one",
                retriable=False,
            )

    def _check_assigned(
        self, operation: str, partitions: Iterable[TopicPartition]
    ) -> list[TopicPartition]:
        self._check_started(operation)
        if isinstance(partitions, TopicPartition):
            raise ConfigurationError(
                f"{operation}() takes a collection of partitions, not the single {partitions}"
            )
        tps = list(partitions)
        foreign = sorted(tp for tp in tps if tp not in self._logs)
        if foreign:
            raise AppStateError(
                f"{operation}() on partitions not assigned to reader "
                f"{self._config.client_id!r}: {foreign} (assigned: {self._order}); "
                "assign them first"
            )
        return tps

    def _unknown_topic(self, topic: str) -> UnknownTopicError:
        return UnknownTopicError(
            f"reader {self._config.client_id!r} cannot read topic {topic!r}: it does not "
            "exist on this memory broker (declare it first, e.g. with create_topics)"
        )
