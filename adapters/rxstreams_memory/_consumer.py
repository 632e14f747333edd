"""A group consumer on the memory broker, implementing :class:`rxstreams.types.ConsumerT`."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    CommitFailedError,
    ConfigurationError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, Message, TopicPartition
from rxstreams.types import ConsumerConfig, RebalanceListenerT

from ._batch import take_batch
from ._group import GroupCoordinator, Member
from ._log import PartitionLog

if TYPE_CHECKING:
    from ._broker import MemoryBroker

__all__ = ("MemoryConsumer",)

log = get_logger(__name__)

_State = Literal["created", "started", "stopped", "crashed"]


#: the shortest wait getmany starts: below it, a float deadline minus the clock is
#: rounding error that a virtual clock (tests' looptime) may never reach
_TICK = 1e-6


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class MemoryConsumer:
    """A member of the consumer group ``config.group_id``, subscribed to ``topics``.

    Rebalances run inside :meth:`getmany`: the member calls
    ``listener.on_partitions_revoked(everything it owns)``, rejoins, waits until every live
    member has rejoined, then calls ``listener.on_partitions_assigned(its new partitions)``.
    The listener sees ``assigned``, ``revoked``, ``assigned``, … strictly alternating; an
    exception it raises comes out of :meth:`getmany` after the protocol step is done.
    Waiting for the others counts against ``getmany``'s timeout: it returns ``{}`` and the
    next call carries on. After each rebalance the positions of *every* assigned partition,
    kept ones too (the protocol is eager), start at the group's committed offset, else at
    ``auto_offset_reset``; so do positions that retention left behind.

    ``session_timeout`` and ``heartbeat_interval`` play no part: a member stays in the group
    until it stops, crashes (:meth:`crash`) or misses a rebalance deadline. Nor does
    ``fetch_max_wait``: a waiting :meth:`getmany` wakes as soon as a record is appended.

    With ``isolation_level="read_committed"`` the consumer reads below each partition's
    last stable offset only (the first offset of its oldest open transaction), skips
    aborted records, and reports that offset as :meth:`highwater`; ``read_uncommitted``
    (the default) gets records of open and aborted transactions too. Neither gets the
    control markers that end transactions: committed offsets have gaps.
    """

    def __init__(
        self,
        broker: MemoryBroker,
        topics: Collection[str],
        listener: RebalanceListenerT,
        config: ConsumerConfig,
    ) -> None:
        if isinstance(topics, str):
            raise ConfigurationError(
                f"topics must be a collection of topic names, not the string {topics!r}"
            )
        self._broker = broker
        self._topics = frozenset(topics)
        self._listener = listener
        self._config = config
        self._read_committed = config.isolation_level == "read_committed"
        self._group: GroupCoordinator = broker._group(config.group_id)
        self._state: _State = "created"
        self._member: Member | None = None
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._order: list[TopicPartition] = []  # the assigned partitions, sorted
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._holds = False  # took an assignment and has not revoked it yet
        self._rotation = 0  # which partition is served first by the next fetch
        self._polling = False
        self._waiter: asyncio.Future[None] | None = None
        self._log = log.bind(group_id=config.group_id, client_id=config.client_id)

    # -- identity -------------------------------------------------------------------------

    @property
    def member_id(self) -> str | None:
        """The id the group knows this member by (None before :meth:`start`)."""
        return None if self._member is None else self._member.member_id

    @property
    def topics(self) -> frozenset[str]:
        """The subscribed topic names."""
        return self._topics

    @property
    def config(self) -> ConsumerConfig:
        """The configuration this consumer was created with."""
        return self._config

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group; partitions arrive through the listener during :meth:`getmany`."""
        self._check_not_crashed()
        if self._state == "started":
            return
        if self._state == "stopped":
            raise AppStateError("a stopped consumer cannot be started again: create a new one")
        member_id = self._broker._new_member_id(self._config.client_id)
        self._member = Member(
            member_id,
            self._topics,
            self._config.rebalance_timeout,
            asyncio.get_running_loop(),
            self._wake,
        )
        self._log = self._log.bind(member_id=member_id)
        self._state = "started"
        self._group.join(self._member)

    async def stop(self) -> None:
        """Leave the group gracefully: no listener call, no commit; the others rebalance."""
        self._check_not_crashed()
        if self._state == "started" and self._member is not None:
            self._group.leave(self._member, "member_left")
        self._state = "stopped"
        self._forget_assignment()
        self._wake()

    def subscribe(self, topics: Collection[str]) -> None:
        """Change the subscription; the group rebalances to hand out the new topics."""
        self._check_not_crashed()
        new = frozenset(topics)
        if new == self._topics:
            return
        self._topics = new
        if self._state == "started" and self._member is not None:
            self._member.topics = new
            self._group.subscription_changed(self._member)

    def crash(self) -> None:
        """Die at once, as if the process was killed (see :meth:`MemoryBroker.crash`)."""
        if self._state == "crashed":
            return
        if self._state == "started" and self._member is not None:
            self._group.leave(self._member, "member_crashed")
        self._state = "crashed"
        self._forget_assignment()
        self._log.warning("consumer_crashed")
        self._wake()

    # -- fetching -------------------------------------------------------------------------

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> dict[TopicPartition, list[Message]]:
        """Fetch a batch from the assigned, unpaused partitions; wait at most ``timeout``.

        Runs a pending rebalance first. Returns ``{}`` on timeout, and when :meth:`stop`
        ends the wait; raises :class:`BrokerUnavailableError` once the consumer crashed.
        """
        self._check_started("getmany")
        limit = self._config.max_poll_records if max_records is None else max_records
        if limit < 1:
            raise ConfigurationError(f"max_records must be at least 1, got {limit}")
        if self._polling:
            raise AppStateError("getmany is already running on this consumer")
        self._polling = True
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                settled = self._in_step() or await self._sync_group()
                self._check_not_crashed()
                if self._state != "started":
                    return {}
                if settled:
                    batch = self._fetch(limit)
                    if batch:
                        return batch
                remaining = deadline - loop.time()
                if remaining < _TICK:  # what is left is rounding, not time to wait
                    return {}
                await self._wait(loop, remaining, watch_partitions=settled)
        finally:
            self._polling = False

    def _in_step(self) -> bool:
        """True if this member holds the current assignment and no rebalance is running."""
        member = self._member
        group = self._group
        return (
            member is not None
            and self._state == "started"
            and not group.rebalancing
            and not member.expelled
            and member.generation == group.generation
        )

    async def _sync_group(self) -> bool:
        """Take part in the group protocol; True once this member holds the current assignment."""
        group = self._group
        while self._state == "started" and self._member is not None:
            member = self._member
            if member.expelled:
                if self._holds:
                    await self._revoke()
                    continue
                self._log.warning("group_member_rejoining", reason="expelled")
                group.join(member)
            elif group.must_rejoin(member):
                if self._holds:
                    await self._revoke()
                    continue
                group.rejoin(member)
            elif group.rebalancing:
                return False  # rejoined: waiting for the others (the barrier)
            elif member.generation != group.generation:
                await self._assign(group.assignment_of(member), group.generation)
            else:
                return True
        return False

    async def _revoke(self) -> None:
        revoked = self._assigned
        self._holds = False
        self._log.debug("partitions_revoked", partitions=sorted(revoked))
        try:
            await self._listener.on_partitions_revoked(revoked)
        finally:
            self._forget_assignment()

    async def _assign(self, assigned: frozenset[TopicPartition], generation: int) -> None:
        assert self._member is not None
        self._member.generation = generation
        self._holds = True
        self._assigned = assigned
        self._order = sorted(assigned)
        self._logs = {tp: self._broker._log(tp) for tp in self._order}
        self._paused.clear()
        for tp, plog in self._logs.items():
            committed = self._group.committed(tp)
            self._positions[tp] = (
                committed if committed is not None else self._reset_position(tp, plog, None)
            )
        self._log.debug("partitions_assigned", generation=generation, partitions=self._order)
        await self._listener.on_partitions_assigned(assigned)

    def _forget_assignment(self) -> None:
        self._holds = False
        self._assigned = frozenset()
        self._order = []
        self._logs = {}
        self._positions = {}
        self._paused = set()

    def _reset_position(self, tp: TopicPartition, plog: PartitionLog, position: int | None) -> int:
        policy = self._config.auto_offset_reset
        new = plog.start if policy == "earliest" else self._end_of(plog)
        self._log.debug(
            "offset_reset",
            topic=tp.topic,
            partition=tp.partition,
            position=position,
            reset_to=new,
            auto_offset_reset=policy,
        )
        return new

    def _fetch(self, limit: int) -> dict[TopicPartition, list[Message]]:
        """Take up to ``limit`` records (see :func:`take_batch`); the partition served
        first rotates from call to call, so none is starved."""
        order = self._order
        if not order:
            return {}
        first = self._rotation % len(order)
        self._rotation = first + 1
        return take_batch(
            order,
            self._logs,
            self._positions,
            limit,
            first=first,
            skip=self._paused,
            reset=self._reset_position,
            committed=self._read_committed,
        )

    async def _wait(
        self, loop: asyncio.AbstractEventLoop, timeout: float, *, watch_partitions: bool
    ) -> None:
        """Sleep until a record arrives, the group changes, or the consumer stops."""
        waiter: asyncio.Future[None] = loop.create_future()
        logs = (
            [self._logs[tp] for tp in self._order if tp not in self._paused]
            if watch_partitions
            else []
        )
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

    # -- partitions -----------------------------------------------------------------------

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now."""
        self._check_not_crashed()
        return self._assigned

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning records for these partitions (unassigned ones are ignored)."""
        self._check_not_crashed()
        self._paused.update(tp for tp in partitions if tp in self._assigned)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Return records for these partitions again (wakes a waiting :meth:`getmany`)."""
        self._check_not_crashed()
        self._paused.difference_update(partitions)
        self._wake()

    def paused(self) -> frozenset[TopicPartition]:
        """The partitions paused now."""
        self._check_not_crashed()
        return frozenset(self._paused)

    def highwater(self, partition: TopicPartition) -> int | None:
        """The end offset of an assigned partition's log (``read_committed``: its last
        stable offset), or None if not assigned."""
        self._check_not_crashed()
        plog = self._logs.get(partition)
        return None if plog is None else self._end_of(plog)

    def _end_of(self, plog: PartitionLog) -> int:
        return plog.stable if self._read_committed else plog.end

    def position(self, partition: TopicPartition) -> int | None:
        """The offset the next fetch reads from an assigned partition, or None."""
        self._check_not_crashed()
        return self._positions.get(partition)

    # -- offsets --------------------------------------------------------------------------

    def group_metadata(self) -> GroupMetadata:
        """This member's id and the generation whose assignment it holds, for offsets sent
        in a transaction; ``(group, -1, "")`` before it took its first assignment. A member
        the group moved on from keeps its old metadata: the coordinator refuses it."""
        member = self._member
        if member is None or member.generation == 0:
            return GroupMetadata(self._config.group_id, -1, "")
        return GroupMetadata(self._config.group_id, member.generation, member.member_id)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit "next offset to read" per partition.

        Raises :class:`CommitFailedError` unless this member is live, in the current
        generation (a pending rebalance is fine until the new assignment is computed) and
        owns every partition given.
        """
        self._check_started("commit")
        member = self._member
        assert member is not None
        if not self._group.is_current(member):
            reason = (
                "was removed from the group (missed the rebalance deadline)"
                if member.expelled
                else "has not joined the group's current generation yet"
            )
            raise CommitFailedError(
                f"commit refused: member {member.member_id} of group {self._group.group_id!r} "
                f"{reason}; its partitions may belong to another member now. "
                "Records after the last successful commit will be delivered again."
            )
        foreign = sorted(tp for tp in offsets if tp not in self._assigned)
        if foreign:
            raise CommitFailedError(
                f"commit refused: {foreign} not assigned to member {member.member_id} "
                f"of group {self._group.group_id!r} (assigned: {sorted(self._assigned)})"
            )
        for tp, offset in offsets.items():
            if not isinstance(offset, int) or offset < 0:
                raise ConfigurationError(f"cannot commit offset {offset!r} for {tp}")
        if offsets:
            self._group.commit(offsets)

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of a partition, or None."""
        self._check_not_crashed()
        return self._group.committed(partition)

    # -- checks ---------------------------------------------------------------------------

    def _check_not_crashed(self) -> None:
        if self._state == "crashed":
            raise BrokerUnavailableError(
                f"consumer {self.member_id} of group {self._config.group_id!r} crashed "
                "(MemoryBroker.crash); create a new consumer",
                retriable=False,
            )

    def _check_started(self, operation: str) -> None:
        self._check_not_crashed()
        if self._state == "created":
            raise AppStateError(f"{operation}() before start(): await consumer.start() first")
        if self._state == "stopped":
            raise BrokerUnavailableError(
                f"{operation}() on a stopped consumer of group {self._config.group_id!r}",
                retriable=False,
            )
