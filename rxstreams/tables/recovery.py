"""Recovery: a table partition rebuilt from its changelog, up to the changelog's end.

A reader (no group) reads the changelog partitions from the offset after the last one the
store applied (a durable store) or from the start, until each reaches the end it had when
recovery began; every record sets its key (a record without a value deletes it). An
exactly-once app reads committed records only, so an aborted transaction's records are
never replayed. A record that does not decode stops the worker with an error naming the
table, partition and offset: a table is never silently missing keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import CodecError, ConfigurationError
from ..logging import get_logger
from ..messages import TopicPartition
from ..types import ReaderConfig, ReaderT

if TYPE_CHECKING:
    from .table import Table

__all__ = ("Progress", "recover")

log = get_logger(__name__)

#: how often recovery logs its progress, in seconds
_REPORT_EVERY = 2.0


class Progress:
    """How far a recovery is, per changelog partition (for status and progress bars)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.start: dict[int, int] = {}
        self.end: dict[int, int] = {}
        self.position: dict[int, int] = {}
        self.records = 0
        self.done = False

    @property
    def total(self) -> int:
        return sum(self.end[p] - self.start[p] for p in self.end)

    @property
    def replayed(self) -> int:
        return sum(self.position.get(p, self.start[p]) - self.start[p] for p in self.end)


async def recover(
    table: Table[Any, Any],
    partitions: Iterable[int],
    make_reader: Callable[[ReaderConfig], ReaderT],
    config: ReaderConfig,
    progress: Progress,
) -> int:
    """Replay ``table``'s changelog into its store for ``partitions``; the records applied."""
    numbers = sorted(set(partitions))
    if not numbers:
        progress.done = True
        return 0
    topic = table.changelog.name
    tps = [TopicPartition(topic, p) for p in numbers]
    reader = make_reader(config)
    await reader.start()
    started = time.monotonic()
    try:
        await reader.assign(tps)
        await reader.seek_to_end(tps)
        for tp in tps:
            end = reader.position(tp)
            assert end is not None, f"no end offset for {tp} after seek_to_end"
            applied = table.store.applied(tp.partition)
            start = 0 if applied is None else applied + 1
            if start > end:  # the store is ahead of the changelog: not this changelog's
                raise ConfigurationError(
                    f"table {table.name!r} partition {tp.partition}: the store "
                    f"{table.store_url!r} applied changelog offsets up to {applied}, but "
                    f"{topic!r} ends at {end}: the store is from another changelog (another "
                    "app id, or the topic was recreated); wipe the store to rebuild it"
                )
            progress.start[tp.partition] = start
            progress.end[tp.partition] = end
            progress.position[tp.partition] = start
            if start == 0:
                await reader.seek_to_beginning([tp])
            else:
                reader.seek(tp, start)
        remaining = {tp for tp in tps if progress.start[tp.partition] < progress.end[tp.partition]}
        applied_count = await _replay(table, reader, remaining, progress, started)
    finally:
        await reader.stop()
    progress.done = True
    log.info(
        "table_recovered",
        table=table.name,
        partitions=numbers,
        records=applied_count,
        seconds=round(time.monotonic() - started, 3),
    )
    return applied_count


async def _replay(
    table: Table[Any, Any],
    reader: ReaderT,
    remaining: set[TopicPartition],
    progress: Progress,
    started: float,
) -> int:
    key_loads = table.key_codec.loads
    value_loads = table.value_codec.loads
    store = table.store
    count = 0
    last_report = started
    while remaining:
        batches = await reader.getmany(timeout=0.2)
        for tp, messages in batches.items():
            if tp not in remaining:
                continue
            p = tp.partition
            end = progress.end[p]
            data = store.partition(p)
            last = None
            for m in messages:
                if m.offset >= end:
                    break
                try:
                    key = key_loads(m.key) if m.key is not None else None
                    if m.value is None:
                        data.pop(key, None)
                    else:
                        data[key] = value_loads(m.value)
                except (CodecError, ValueError, TypeError) as exc:
                    raise CodecError(
                        f"table {table.name!r}: changelog record {tp.topic}[{p}] at offset "
                        f"{m.offset} does not decode ({exc}); the table cannot be recovered "
                        "without it (check key_type/value_type and the serializers)"
                    ) from exc
                last = m.offset
                count += 1
            if last is not None:
                store.set_applied(p, last)
            position = reader.position(tp)
            if position is not None:
                progress.position[p] = min(position, end)
            if position is not None and position >= end:
                remaining.discard(tp)
        for tp in list(remaining):  # ends reached by skipping (markers, compacted records)
            position = reader.position(tp)
            if position is not None and position >= progress.end[tp.partition]:
                progress.position[tp.partition] = progress.end[tp.partition]
                remaining.discard(tp)
        progress.records = count
        now = time.monotonic()
        if now - last_report >= _REPORT_EVERY:
            last_report = now
            log.info(
                "table_recovering",
                table=table.name,
                replayed=progress.replayed,
                total=progress.total,
            )
        await asyncio.sleep(0)
    return count
