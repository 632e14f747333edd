"""The data that crosses the transport boundary: partitions, messages, metadata.

These are plain immutable values shared by every transport. A transport may hand the
core its own message objects instead of :class:`Message`, as long as they have the same
attributes (see :class:`rxstreams.types.MessageT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ("GroupMetadata", "Headers", "Message", "RecordMetadata", "TopicPartition", "TopicSpec")

#: Headers as they travel on the wire: an ordered sequence of ``(name, bytes)`` pairs.
Headers = Sequence[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


class Message(NamedTuple):
    """A record as a consumer reads it; the field names and units are Kafka's.

    ``timestamp`` is in milliseconds since the Unix epoch, as on the wire;
    :attr:`rxstreams.Event.timestamp` gives it in seconds. A named tuple: immutable, and
    the cheapest record Python builds (the embedded broker stores one per message).
    """

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class GroupMetadata(NamedTuple):
    """Who a group member is now (Kafka's ``ConsumerGroupMetadata``).

    A transactional producer sends it with the offsets it commits in a transaction, so the
    group coordinator refuses them from a member the group has moved on from (a zombie):
    ``generation_id`` is the generation the member joined, ``-1`` when it has none.
    """

    group_id: str
    generation_id: int
    member_id: str


class RecordMetadata(NamedTuple):
    """Where a produced record landed."""

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What the app asks a transport to declare."""

    name: str
    partitions: int
    replicas: int = 1
    retention_ms: int | None = None
    compacting: bool = False
    internal: bool = False
