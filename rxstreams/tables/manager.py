"""The worker's tables in the partition lifecycle: recover, flush, release.

- ``on_assigned``: for each table, the partitions it gets are the numbers of the assigned
  partitions of topics with the table's partition count (co-partitioned topics); they are
  recovered from the changelog before any event of them is delivered (the worker holds
  their delivery meanwhile).
- writes collect changelog records per ``(partition, key)``, the latest value only
  (values, not deltas: the changelog is compacted anyway); they are sent when many are
  pending, and always in ``on_commit``, and the commit waits until the broker has them,
  so an update is never lost once its event's offset is committed. Exactly-once, they
  are part of the transaction that commits the event.
- ``on_revoked``: the partitions are released (a memory store forgets them; their next
  owner recovers them). Their changes were sent by the commit that comes before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..logging import get_logger
from ..messages import TopicPartition
from ..runtime.lifecycle import Participant
from ..types import ReaderConfig
from .recovery import Progress, recover
from .table import DELETED, Table

if TYPE_CHECKING:
    from ..runtime.worker import Worker

__all__ = ("TableManager",)

log = get_logger(__name__)

#: pending changelog records (over every table) that start a flush before the next commit
FLUSH_AT = 10_000


class TableManager(Participant):
    """The tables of one worker (a lifecycle participant, added with the first table)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.tables: dict[str, Table[Any, Any]] = {}
        self._lock = asyncio.Lock()
        self._flushing: asyncio.Task[None] | None = None
        self._pending = 0
        #: recoveries by table name, the latest first (status, progress bars)
        self.recoveries: dict[str, Progress] = {}
        self.recovered_records = 0

    def add(self, table: Table[Any, Any]) -> None:
        self.tables[table.name] = table
        table.on_pending = self._note_pending
        table.store.open()

    # -- which partitions ---------------------------------------------------------------------

    def _numbers(self, table: Table[Any, Any], partitions: frozenset[TopicPartition]) -> set[int]:
        app = self.worker.app
        count = table.partitions
        numbers = set()
        for tp in partitions:
            topic = app.topics.get(tp.topic)
            if (
                topic is not None
                and topic is not table.changelog
                and tp.partition < count
                and topic.spec().partitions == count
            ):
                numbers.add(tp.partition)
        return numbers

    # -- lifecycle ----------------------------------------------------------------------------

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        conf = self.worker.app.conf
        config = ReaderConfig(
            client_id=f"{conf.id}-recovery",
            fetch_max_wait=min(conf.fetch_timeout, 0.1),
            isolation_level=conf.consumer_config().isolation_level,
        )
        for table in list(self.tables.values()):
            numbers = self._numbers(table, partitions) - table.active
            if not numbers:
                continue
            progress = Progress(table.name)
            self.recoveries[table.name] = progress
            self.recovered_records += await recover(
                table, numbers, self.worker.create_reader, config, progress
            )
            table.active.update(numbers)
            for hook in table.on_recovered:
                hook(numbers)

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self.flush()

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        # what was pending at the commit before the revocation is on the broker; writes
        # since come from events the partitions' next owner processes again: drop them
        still = frozenset(self.worker.offsets) - partitions
        for table in self.tables.values():
            gone = table.active - self._numbers(table, still)
            if gone and table.pending:
                table.pending = {pk: v for pk, v in table.pending.items() if pk[0] not in gone}
            for partition in sorted(gone):
                table.active.discard(partition)
                table.store.release(partition)
            if gone:
                for hook in table.on_released:
                    hook(gone)
            if gone:
                log.debug("table_partitions_released", table=table.name, partitions=sorted(gone))

    async def on_stopped(self) -> None:
        for table in self.tables.values():
            table.store.close()
            table.active.clear()

    # -- changelog ----------------------------------------------------------------------------

    def _note_pending(self, table: Table[Any, Any]) -> None:
        self._pending += 1
        if self._pending >= FLUSH_AT and (self._flushing is None or self._flushing.done()):
            self._pending = 0
            self._flushing = self.worker.spawn(self.flush(), "tables:flush")

    async def flush(self) -> None:
        """Send every pending changelog record and wait until the broker has them."""
        async with self._lock:
            self._pending = 0
            producing = self.worker.producing
            for table in list(self.tables.values()):
                pending = table.take_pending()
                if not pending:
                    continue
                key_dumps = table.key_codec.dumps
                value_dumps = table.value_codec.dumps
                records = [
                    (
                        None if key is None else key_dumps(key),
                        None if value is DELETED else value_dumps(value),
                        partition,
                    )
                    for (partition, key), value in pending.items()
                ]
                landed = await producing.send_batch(table.changelog.spec(), records)
                store = table.store
                last: dict[int, int] = {}
                for md in landed:
                    if md.offset > last.get(md.partition, -1):
                        last[md.partition] = md.offset
                for partition, offset in last.items():
                    applied = store.applied(partition)
                    if applied is None or offset > applied:
                        store.set_applied(partition, offset)
