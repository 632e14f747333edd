"""Helpers for the Kafka adapter's tests: fetching until something happened, with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from rxstreams.messages import TopicPartition
from rxstreams.types import MessageT
from rxstreams_kafka import KafkaConsumer

Journal = list[tuple[str, str, frozenset[TopicPartition]]]


class RecordingListener:
    """Journals every listener call; on revoke, commits ``to_commit`` for revoked partitions."""

    def __init__(self, name: str, journal: Journal) -> None:
        self.name = name
        self.journal = journal
        self.consumer: KafkaConsumer | None = None
        self.to_commit: dict[TopicPartition, int] = {}
        self.fail_on_assign: Exception | None = None
        self.changed = asyncio.Event()

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        self.journal.append((self.name, "revoked", revoked))
        offsets = {tp: off for tp, off in self.to_commit.items() if tp in revoked}
        self.to_commit = {}
        if offsets:
            assert self.consumer is not None
            await self.consumer.commit(offsets)
            self.journal.append((self.name, "committed", frozenset(offsets)))
        self.changed.set()

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        self.journal.append((self.name, "assigned", assigned))
        self.changed.set()
        if self.fail_on_assign is not None:
            raise self.fail_on_assign


async def consume(
    consumer: KafkaConsumer,
    count: int,
    *,
    within: float = 10.0,
) -> dict[TopicPartition, list[MessageT]]:
    """Fetch until ``count`` records arrived (or ``within`` seconds passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    got: dict[TopicPartition, list[MessageT]] = {}
    total = 0
    while total < count and loop.time() < deadline:
        batch = await consumer.getmany(timeout=0.5)
        for tp, records in batch.items():
            got.setdefault(tp, []).extend(records)
            total += len(records)
    return got


async def wait_assigned(
    *consumers: KafkaConsumer, partitions: int, within: float = 10.0
) -> list[frozenset[TopicPartition]]:
    """Fetch on every consumer until together they own ``partitions`` partitions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        owned = [c.assignment() for c in consumers]
        if sum(len(o) for o in owned) == partitions and all(owned):
            return owned
        await asyncio.gather(*(c.getmany(timeout=0.2) for c in consumers))
    raise AssertionError(f"no assignment of {partitions} partitions in {within}s: {owned}")


def offsets(batch: Mapping[TopicPartition, Sequence[MessageT]]) -> dict[TopicPartition, list[int]]:
    """The offsets of a batch, per partition."""
    return {tp: [m.offset for m in msgs] for tp, msgs in batch.items()}
