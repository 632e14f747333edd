"""The embedded broker: topics, partition logs and consumer groups living in one process."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, ClassVar

from rxstreams.errors import ConfigurationError, UnknownTopicError
from rxstreams.logging import get_logger
from rxstreams.messages import Message, TopicPartition

from ._group import GroupCoordinator
from ._log import PartitionLog
from ._topic import Topic, check_topic_name
from ._transactions import TransactionCoordinator

if TYPE_CHECKING:
    from ._consumer import MemoryConsumer

__all__ = ("MemoryBroker",)

log = get_logger(__name__)


def _check_count(what: str, value: int | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"{what} must be a positive integer, got {value!r}")


class MemoryBroker:
    """A Kafka-like broker inside the current process, for tests, notebooks and demos.

    Everything runs on one asyncio loop in one thread. ``default_partitions`` is the
    partition count of topics created by producing to them; ``retention_messages`` (if
    given) is the most records kept per partition. The inspection methods (``records``,
    ``committed``, ``group_assignment``, …) are synchronous, for tests and notebooks.
    """

    _registry: ClassVar[dict[str, MemoryBroker]] = {}

    def __init__(
        self, *, default_partitions: int = 1, retention_messages: int | None = None
    ) -> None:
        _check_count("default_partitions", default_partitions, optional=False)
        _check_count("retention_messages", retention_messages, optional=True)
        self.default_partitions = default_partitions
        self.retention_messages = retention_messages
        self._topics: dict[str, Topic] = {}
        self._groups: dict[str, GroupCoordinator] = {}
        self._member_ids = itertools.count(1)
        self._transactions = TransactionCoordinator(self._group)

    def __repr__(self) -> str:
        return f"<MemoryBroker topics={len(self._topics)} groups={len(self._groups)}>"

    # -- the process-wide registry --------------------------------------------------------

    @classmethod
    def named(cls, name: str) -> MemoryBroker:
        """The broker registered under ``name``, created on first use (``memory://NAME``)."""
        broker = cls._registry.get(name)
        if broker is None:
            broker = cls._registry[name] = cls()
        return broker

    @classmethod
    def forget_named(cls, name: str | None = None) -> None:
        """Drop ``name`` (or every name) from the registry: ``named()`` then starts afresh."""
        if name is None:
            cls._registry.clear()
        else:
            cls._registry.pop(name, None)

    # -- topics ---------------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int,
        *,
        retention_ms: int | None = None,
        compacting: bool = False,
    ) -> None:
        """Create a topic; an existing topic is left as it is (partitions and retention)."""
        check_topic_name(name)
        _check_count("partitions", partitions, optional=False)
        _check_count("retention_ms", retention_ms, optional=True)
        if name in self._topics:
            return
        self._topics[name] = Topic(
            name,
            partitions,
            max_records=self.retention_messages,
            retention_ms=retention_ms,
            compacting=compacting,
        )
        log.debug("topic_created", topic=name, partitions=partitions, retention_ms=retention_ms)
        self._topic_changed(name)

    def create_partitions(self, name: str, partitions: int) -> None:
        """Grow a topic to ``partitions`` partitions (never fewer); subscribers rebalance."""
        topic = self._get_topic(name)
        _check_count("partitions", partitions, optional=False)
        if partitions < len(topic.logs):
            raise ConfigurationError(
                f"topic {name!r} has {len(topic.logs)} partitions; it cannot shrink to {partitions}"
            )
        if partitions > len(topic.logs):
            log.info("partitions_created", topic=name, old=len(topic.logs), new=partitions)
            topic.grow(partitions)
            self._topic_changed(name)

    def topics(self) -> list[str]:
        """The names of every topic, sorted."""
        return sorted(self._topics)

    def partition_count(self, name: str) -> int | None:
        """How many partitions ``name`` has, or None if it does not exist."""
        topic = self._topics.get(name)
        return None if topic is None else len(topic.logs)

    # -- logs -----------------------------------------------------------------------------

    def end_offset(self, partition: TopicPartition) -> int:
        """The offset the next record of ``partition`` will get."""
        return self._log(partition).end

    def start_offset(self, partition: TopicPartition) -> int:
        """The oldest offset still stored in ``partition`` (retention moves it forward)."""
        return self._log(partition).start

    def records(self, partition: TopicPartition) -> list[Message]:
        """The records stored in ``partition``, oldest first.

        Records of open and aborted transactions are there too (as a ``read_uncommitted``
        consumer gets them); transactions' control markers are not (no consumer gets them).
        """
        return self._log(partition).records()

    def last_stable_offset(self, partition: TopicPartition) -> int:
        """The first offset of the oldest open transaction in ``partition``, else its end
        offset: ``read_committed`` consumers read below it."""
        return self._log(partition).stable

    def aborted(self, partition: TopicPartition, offset: int) -> bool:
        """True if the record at ``offset`` of ``partition`` belongs to an aborted
        transaction (``read_committed`` consumers never get it)."""
        return self._log(partition).is_aborted(offset)

    # -- groups ---------------------------------------------------------------------------

    def groups(self) -> list[str]:
        """The ids of every consumer group known to the broker, sorted.

        A group is known from the moment a consumer of it is created; readers
        (:class:`~rxstreams_memory.MemoryReader`) belong to none.
        """
        return sorted(self._groups)

    def committed(self, group_id: str, partition: TopicPartition) -> int | None:
        """The committed offset of ``group_id`` for ``partition``, or None."""
        group = self._groups.get(group_id)
        return None if group is None else group.committed(partition)

    def group_members(self, group_id: str) -> list[str]:
        """The member ids of the live members of ``group_id``, sorted."""
        group = self._groups.get(group_id)
        return [] if group is None else sorted(group.members)

    def group_assignment(self, group_id: str) -> dict[str, frozenset[TopicPartition]]:
        """Member id → partitions, as computed for the group's current generation."""
        group = self._groups.get(group_id)
        return {} if group is None else group.assignment()

    def group_generation(self, group_id: str) -> int:
        """The group's generation (0 for a group never formed)."""
        group = self._groups.get(group_id)
        return 0 if group is None else group.generation

    def crash(self, consumer: MemoryConsumer) -> None:
        """Kill ``consumer`` as if its process died: no commit, the others take over.

        Every later call on it raises :class:`BrokerUnavailableError`, including a
        :meth:`MemoryConsumer.getmany` waiting right now.
        """
        if consumer._broker is not self:
            raise ConfigurationError("this consumer belongs to another MemoryBroker")
        consumer.crash()

    # -- for the consumers and producers --------------------------------------------------

    def _get_topic(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicError(f"topic {name!r} does not exist on this memory broker")
        return topic

    def _log(self, partition: TopicPartition) -> PartitionLog:
        logs = self._get_topic(partition.topic).logs
        if not 0 <= partition.partition < len(logs):
            raise UnknownTopicError(
                f"topic {partition.topic!r} has {len(logs)} partition(s): "
                f"partition {partition.partition} does not exist"
            )
        return logs[partition.partition]

    def _auto_create(self, name: str) -> Topic:
        """Create ``name`` with ``default_partitions``, as producing to it does."""
        self.create_topic(name, self.default_partitions)
        return self._topics[name]

    def _group(self, group_id: str) -> GroupCoordinator:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = GroupCoordinator(group_id, self._partitions_of)
        return group

    def _new_member_id(self, client_id: str) -> str:
        return f"{client_id}-{next(self._member_ids):06d}"

    def _partitions_of(self, name: str) -> int:
        topic = self._topics.get(name)
        return 0 if topic is None else len(topic.logs)

    def _topic_changed(self, name: str) -> None:
        for group in self._groups.values():
            group.topic_changed(name)
