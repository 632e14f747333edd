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
    committed: bool = False,
) -> dict[TopicPartition, list[Message]]:
    """Up to ``limit`` records from the partitions of ``order``, advancing ``positions``.

    All records are taken if they fit; otherwise each partition with records gets an even
    share, and what is left of the limit goes to the partitions in turn, starting at
    ``order[first]`` (rotate ``first`` from call to call so none is starved). Partitions
    in ``skip`` are left out. A position outside its log is first moved to
    ``reset(tp, log, position)``.

    ``committed`` (``read_committed``): read below each log's last stable offset only,
    leaving aborted records out. Control markers are never returned, but the positions
    move past them; a partition whose share held only those gets no entry.
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
        available = (plog.stable if committed else plog.end) - position
        if available > 0:
            ready.append((tp, plog, position, available))
            total += available
    batch: dict[TopicPartition, list[Message]] = {}
    if total <= limit:
        for tp, plog, position, available in ready:
            messages = plog.read(position, available, committed)
            positions[tp] = position + available
            if messages:
                batch[tp] = messages
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
            messages = plog.read(position, take, committed)
            positions[tp] = position + take
            if messages:
                batch[tp] = messages
    return batch
