"""Taking one fetch's batch from several partition logs, fairly, up to a record limit."""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, MutableMapping

from rxstreams.messages import Message, TopicPartition

from ._log import PartitionLog

__all__ = ("take_batch",)


def take_batch(
    order: list[TopicPartition],
    logs: Mapping[TopicPartition, PartitionLog],
    positions: MutableMapping[TopicPartition, int],
    limit: int,
    *,
    first: int = 0,
    skip: Container[TopicPartition] = (),
    reset: Callable[[TopicPartition, PartitionLog, int], int],
) -> dict[TopicPartition, list[Message]]:
    """Up to ``limit`` records from the partitions of ``order``, advancing ``positions``.

    All records are taken if they fit; otherwise each partition with records gets an even
    share, and what is left of the limit goes to the partitions in turn, starting at
    ``order[first]`` (rotate ``first`` from call to call so none is starved). Partitions
    in ``skip`` are left out. A position outside its log is first moved to
    ``reset(tp, log, position)``.
    """
    if not order:
        return {}
    first %= len(order)
    ready: list[tuple[TopicPartition, PartitionLog, int, int]] = []
    total = 0
    for tp in order[first:] + order[:first] if first else order:
        if tp in skip:
            continue
        plog = logs[tp]
        position = positions[tp]
        if position < plog.start or position > plog.end:
            position = positions[tp] = reset(tp, plog, position)
        available = plog.end - position
        if available:
            ready.append((tp, plog, position, available))
            total += available
    batch: dict[TopicPartition, list[Message]] = {}
    if total <= limit:
        for tp, plog, position, available in ready:
            batch[tp] = plog.read(position, available)
            positions[tp] = position + available
        return batch
    share = max(1, limit // len(ready))
    takes = []
    for _, _, _, available in ready:
        take = min(available, share, limit)
        takes.append(take)
        limit -= take
    for i, (_, _, _, available) in enumerate(ready):
        if not limit:
            break
        more = min(available - takes[i], limit)
        takes[i] += more
        limit -= more
    for (tp, plog, position, _), take in zip(ready, takes, strict=True):
        if take:
            batch[tp] = plog.read(position, take)
            positions[tp] = position + take
    return batch
