"""A consumer group's coordinator: members, generations, the rebalance barrier, commits.

The protocol is Kafka's classic eager one. A join, a leave, a crash, or a subscribed topic
that appears or grows starts a *rebalance*: every member is woken, gives up its whole
assignment (calling its revoke listener, where the app commits) and *rejoins*. When every
live member has rejoined, the coordinator computes the new assignment and bumps the
generation; a member that does not rejoin within the rebalance timeout (the largest of the
members' ``rebalance_timeout``, in loop time) is expelled first. Commits are accepted only
from a live member of the current generation; so are offsets sent in a transaction, checked
against the :class:`~rxstreams.messages.GroupMetadata` sent with them (Kafka's
``TxnOffsetCommit`` v3, KIP-447).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from rxstreams.errors import CommitFailedError
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, TopicPartition

__all__ = ("GroupCoordinator", "Member", "assign_range")

log = get_logger(__name__)


def assign_range(
    subscriptions: Mapping[str, Collection[str]], partitions_of: Callable[[str], int]
) -> dict[str, frozenset[TopicPartition]]:
    """Kafka's range assignor: per topic, contiguous partition ranges over sorted members.

    Each member subscribed to a topic gets ``n // m`` of its partitions, the first
    ``n % m`` (by member id) one more. Topics with the same partition count and the same
    subscribers are co-partitioned: partition ``p`` of each goes to the same member.
    """
    owned: dict[str, list[TopicPartition]] = {member_id: [] for member_id in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        count = partitions_of(topic)
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        if not count or not members:
            continue
        share, extra = divmod(count, len(members))
        first = 0
        for i, member_id in enumerate(members):
            size = share + (1 if i < extra else 0)
            owned[member_id].extend(TopicPartition(topic, p) for p in range(first, first + size))
            first += size
    return {member_id: frozenset(tps) for member_id, tps in owned.items()}


class Member:
    """One consumer's seat in a group, as the coordinator sees it."""

    __slots__ = (
        "expelled",
        "generation",
        "loop",
        "member_id",
        "rebalance_timeout",
        "topics",
        "wake",
    )

    def __init__(
        self,
        member_id: str,
        topics: frozenset[str],
        rebalance_timeout: float,
        loop: asyncio.AbstractEventLoop,
        wake: Callable[[], None],
    ) -> None:
        self.member_id = member_id
        self.topics = topics
        self.rebalance_timeout = rebalance_timeout
        self.loop = loop
        #: Called when the member must look at the group again (rebalance, expulsion).
        self.wake = wake
        #: The generation whose assignment this member has taken (0: none yet).
        self.generation = 0
        #: True once the coordinator removed the member for missing a rebalance deadline.
        self.expelled = False


class GroupCoordinator:
    """The state of one consumer group on the memory broker."""

    def __init__(self, group_id: str, partitions_of: Callable[[str], int]) -> None:
        self.group_id = group_id
        self._partitions_of = partitions_of
        self._members: dict[str, Member] = {}
        self._rejoined: set[str] = set()
        self._assignment: dict[str, frozenset[TopicPartition]] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._generation = 0
        self._rebalancing = False
        self._round = 0
        self._timer: asyncio.TimerHandle | None = None
        self._log = log.bind(group_id=group_id)

    # -- state ----------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Bumped each time a new assignment is computed (or the group becomes empty)."""
        return self._generation

    @property
    def rebalancing(self) -> bool:
        """True from the start of a rebalance until the new assignment is computed."""
        return self._rebalancing

    @property
    def members(self) -> Mapping[str, Member]:
        """The live members by member id."""
        return self._members

    def assignment(self) -> dict[str, frozenset[TopicPartition]]:
        """The assignment of the current generation, for the live members."""
        return {m: tps for m, tps in self._assignment.items() if m in self._members}

    def assignment_of(self, member: Member) -> frozenset[TopicPartition]:
        """What ``member`` owns in the current generation."""
        return self._assignment.get(member.member_id, frozenset())

    def is_member(self, member: Member) -> bool:
        """True while ``member`` is in the group (not left, crashed or expelled)."""
        return self._members.get(member.member_id) is member

    def is_current(self, member: Member) -> bool:
        """True if ``member`` is live and holds the current generation's assignment."""
        return self.is_member(member) and member.generation == self._generation

    def must_rejoin(self, member: Member) -> bool:
        """True if a rebalance is running and ``member`` has not rejoined it yet."""
        return self._rebalancing and member.member_id not in self._rejoined

    # -- membership -----------------------------------------------------------------------

    def join(self, member: Member) -> None:
        """Add ``member`` (a join counts as its rejoin) and rebalance."""
        self._forget_dead_loops()
        member.expelled = False
        member.generation = 0
        self._members[member.member_id] = member
        self._log.info(
            "group_member_joined", member_id=member.member_id, topics=sorted(member.topics)
        )
        if not self._rebalancing:
            self._begin_rebalance("member_joined")
        self._rejoined.add(member.member_id)
        self._maybe_complete()

    def rejoin(self, member: Member) -> None:
        """Record that ``member`` gave up its assignment and waits for the new one."""
        if self._rebalancing and self.is_member(member):
            self._rejoined.add(member.member_id)
            self._maybe_complete()

    def leave(self, member: Member, reason: str) -> None:
        """Remove ``member`` at once (a graceful leave or a crash) and rebalance the others."""
        if not self.is_member(member):
            return
        del self._members[member.member_id]
        self._rejoined.discard(member.member_id)
        self._log.info("group_member_left", member_id=member.member_id, reason=reason)
        self._after_removal(reason)

    def subscription_changed(self, member: Member) -> None:
        """A member subscribes to other topics now: hand the partitions out again."""
        if member.member_id in self._members:
            self._begin_rebalance("subscription_changed")

    def topic_changed(self, topic: str) -> None:
        """A topic was created or grew: rebalance if a member subscribes to it."""
        if not self._rebalancing and any(topic in m.topics for m in self._members.values()):
            self._begin_rebalance("topic_changed")

    # -- offsets --------------------------------------------------------------------------

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store committed offsets (the caller checked that the member may commit)."""
        self._committed.update(offsets)
        self._log.debug("offsets_committed", offsets=dict(offsets))

    def committed(self, partition: TopicPartition) -> int | None:
        """The committed offset of ``partition``, or None."""
        return self._committed.get(partition)

    def check_transactional_commit(self, group: GroupMetadata) -> None:
        """Raise CommitFailedError unless ``group`` names a live member of the current
        generation (``-1`` and no member id: accepted only while the group has no member)."""
        if group.generation_id == -1 and not group.member_id and not self._members:
            return
        member = self._members.get(group.member_id)
        if member is None:
            raise CommitFailedError(
                f"offsets refused: {group.member_id or 'a consumer of no generation'} is not "
                f"a member of group {self.group_id!r} (UNKNOWN_MEMBER_ID): it left, crashed "
                "or was removed; its partitions may belong to another member now"
            )
        if group.generation_id != self._generation:
            raise CommitFailedError(
                f"offsets refused: member {group.member_id} of group {self.group_id!r} sent "
                f"generation {group.generation_id}, the group is at generation "
                f"{self._generation} (ILLEGAL_GENERATION): it rebalanced, its partitions may "
                "belong to another member now"
            )

    # -- the rebalance --------------------------------------------------------------------

    def _begin_rebalance(self, reason: str) -> None:
        self._forget_dead_loops()
        if not self._members:
            self._become_empty()
            return
        self._rebalancing = True
        self._rejoined = set()
        self._round += 1
        timeout = max(m.rebalance_timeout for m in self._members.values())
        self._cancel_timer()
        self._timer = self._timer_loop().call_later(
            timeout, self._on_rebalance_timeout, self._round
        )
        self._log.info(
            "group_rebalance_started",
            reason=reason,
            generation=self._generation,
            members=sorted(self._members),
        )
        for member in list(self._members.values()):
            member.wake()

    def _maybe_complete(self) -> None:
        if not self._rebalancing or not self._rejoined.issuperset(self._members):
            return
        if not self._members:
            self._become_empty()
            return
        self._assignment = assign_range(
            {m.member_id: m.topics for m in self._members.values()}, self._partitions_of
        )
        self._generation += 1
        self._rebalancing = False
        self._cancel_timer()
        self._log.info(
            "group_rebalanced",
            generation=self._generation,
            assignment={m: sorted(tps) for m, tps in sorted(self._assignment.items())},
        )
        for member in list(self._members.values()):
            member.wake()

    def _on_rebalance_timeout(self, round_: int) -> None:
        if not self._rebalancing or round_ != self._round:
            return
        self._timer = None
        for member_id, member in list(self._members.items()):
            if member_id not in self._rejoined:
                del self._members[member_id]
                member.expelled = True
                self._log.warning(
                    "group_member_expelled",
                    member_id=member_id,
                    reason="rebalance_timeout",
                    rebalance_timeout=member.rebalance_timeout,
                )
                member.wake()
        self._maybe_complete()

    def _after_removal(self, reason: str) -> None:
        if not self._members:
            self._become_empty()
        elif self._rebalancing:
            self._maybe_complete()
        else:
            self._begin_rebalance(reason)

    def _become_empty(self) -> None:
        self._cancel_timer()
        self._rebalancing = False
        self._rejoined = set()
        self._assignment = {}
        self._generation += 1
        self._log.info("group_empty", generation=self._generation)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timer_loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:  # called from synchronous code (a notebook cell, a script)
            return next(iter(self._members.values())).loop

    def _forget_dead_loops(self) -> None:
        """Drop members whose event loop is closed: their process (test, notebook) is gone."""
        for member_id, member in list(self._members.items()):
            if member.loop.is_closed():
                del self._members[member_id]
                self._rejoined.discard(member_id)
                self._log.warning(
                    "group_member_left", member_id=member_id, reason="event_loop_closed"
                )
