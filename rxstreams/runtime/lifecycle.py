"""The partition lifecycle: the moments features hook into.

A worker owns partitions for a while: the group assigns them, the worker reads and commits
them, the group takes them away. A :class:`Participant` is told about each step:

- ``on_assigned(partitions)``: the worker received them. Delivery of these partitions is
  *held* until every participant's ``on_assigned`` returned (table recovery reads its
  changelog here before a single event is processed). It runs in a task of the worker, so
  a slow participant does not stall the other partitions or the group protocol.
- ``on_commit(offsets)``: offsets are about to be committed. Whatever a participant
  buffered on behalf of the events behind those offsets (produced records, changelog
  records) must be durable when it returns.
- ``on_revoking(partitions)``: the partitions are being taken away; runs before their
  final commit.
- ``on_revoked(partitions)``: they are gone (and, on stop, every partition is); events of
  these partitions still queued are dropped, their new owner processes them again.

The app as a whole has two more moments: ``on_started()`` once the worker runs (its
agents, consumer and commits started), and ``on_stopped()`` once it stopped (its clients
closed). ``@app.on_started``, ``@app.on_stopped`` and the ``app.on_partitions_assigned`` /
``app.on_partitions_revoked`` signals are a participant (rxstreams.hooks).

Participants run in the order they were added, ``on_revoked`` and ``on_stopped`` in reverse.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..logging import get_logger
from ..messages import TopicPartition

__all__ = ("Lifecycle", "Participant")

log = get_logger(__name__)


class Participant:
    """Something that takes part in the partition lifecycle; override what you need."""

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        """The worker received ``partitions``; their delivery waits until this returns."""

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """``offsets`` are about to be committed: make what led to them durable first."""

    async def on_revoking(self, partitions: frozenset[TopicPartition]) -> None:
        """``partitions`` are being taken away; their final commit comes next."""

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """``partitions`` are gone."""

    async def on_started(self) -> None:
        """The worker started: its agents, consumer and commits run."""

    async def on_stopped(self) -> None:
        """The worker stopped: everything committed, its clients closed."""


class Lifecycle:
    """The participants of one worker, called in order."""

    def __init__(self) -> None:
        self.participants: list[Participant] = []

    def add(self, participant: Participant) -> None:
        """Add ``participant`` (once); it takes part from the next step on."""
        if participant not in self.participants:
            self.participants.append(participant)

    def remove(self, participant: Participant) -> None:
        """Stop telling ``participant`` about the lifecycle."""
        if participant in self.participants:
            self.participants.remove(participant)

    async def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        for p in list(self.participants):
            await p.on_assigned(partitions)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        for p in list(self.participants):
            await p.on_commit(offsets)

    async def revoking(self, partitions: frozenset[TopicPartition]) -> None:
        for p in list(self.participants):
            await p.on_revoking(partitions)

    async def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        for p in reversed(list(self.participants)):
            await p.on_revoked(partitions)

    async def started(self) -> None:
        for p in list(self.participants):
            await p.on_started()

    async def stopped(self) -> None:
        for p in reversed(list(self.participants)):
            await p.on_stopped()
