"""Offsets sent in a transaction with the group member's generation (Kafka's KIP-447).

aiokafka (0.14) sends ``TxnOffsetCommit`` v0, which names the group but not the member:
the group coordinator accepts it from anyone, so a worker the group has moved on from (a
*zombie*: paused past its session timeout, then resumed) could still commit its
transaction's offsets and output after the partitions' new owner started on them. From
v3 on, the request carries the member id and generation, and the coordinator refuses a
stale one with ``ILLEGAL_GENERATION``, ``UNKNOWN_MEMBER_ID`` or ``FENCED_INSTANCE_ID``:
the transaction can then only be aborted. That is how Kafka's own clients fence zombies
with one transactional producer per worker.

This module defines v3 of the request (v0 stays for brokers before Kafka 2.5, which do
not fence) and installs it in one aiokafka producer's sender, whose transaction manager
calls it when offsets are sent. :func:`install` reads the member from a callable at the
moment the request is built.
"""

from __future__ import annotations

import types
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeAlias

from aiokafka import errors as kafka_errors
from aiokafka.producer.sender import CoordinationType, TxnOffsetCommitHandler
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.transaction import TxnOffsetCommitRequest_v0
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from rxstreams.messages import GroupMetadata

__all__ = ("FENCING", "StaleMemberError", "install")

#: the coordinator's answers meaning "this member is not in the group's generation":
#: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (aiokafka lacks the last)
FENCING: dict[int, str] = {
    22: "ILLEGAL_GENERATION",
    25: "UNKNOWN_MEMBER_ID",
    82: "FENCED_INSTANCE_ID",
}


class StaleMemberError(kafka_errors.IllegalGenerationError):  # type: ignore[misc]
    """The group coordinator refused offsets sent in a transaction: the member is stale."""


class TxnOffsetCommitResponse_v3(Response):  # type: ignore[misc]
    API_KEY = 28
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("error_code", Int16),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class TxnOffsetCommitRequest_v3(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 28
    API_VERSION = 3
    RESPONSE_TYPE = TxnOffsetCommitResponse_v3
    SCHEMA = Schema(
        ("transactional_id", CompactString("utf-8")),
        ("group_id", CompactString("utf-8")),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("generation_id", Int32),
        ("member_id", CompactString("utf-8")),
        ("group_instance_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("committed_metadata", CompactString("utf-8")),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


_Struct: TypeAlias = TxnOffsetCommitRequest_v0 | TxnOffsetCommitRequest_v3


class _TxnOffsetCommit(Request[_Struct]):  # type: ignore[misc]
    """v3 where the broker has it (fenced by generation), else v0."""

    API_KEY = 28

    def __init__(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        member: GroupMetadata,
        offsets: dict[str, list[tuple[int, int, str]]],
    ) -> None:
        self._txn = (transactional_id, producer_id, producer_epoch)
        self._member = member
        self._offsets = offsets

    def build(self, request_struct_class: type[_Struct]) -> _Struct:
        transactional_id, producer_id, producer_epoch = self._txn
        member = self._member
        if request_struct_class is TxnOffsetCommitRequest_v0:
            return TxnOffsetCommitRequest_v0(
                transactional_id,
                member.group_id,
                producer_id,
                producer_epoch,
                list(self._offsets.items()),
            )
        topics: list[Any] = [
            (topic, [(p, offset, -1, metadata, {}) for p, offset, metadata in partitions], {})
            for topic, partitions in self._offsets.items()
        ]
        return TxnOffsetCommitRequest_v3(
            transactional_id,
            member.group_id,
            producer_id,
            producer_epoch,
            member.generation_id,
            member.member_id,
            None,
            topics,
            {},
        )


class _Handler(TxnOffsetCommitHandler):  # type: ignore[misc]
    """aiokafka's handler, building the request above and treating a stale member as an
    abortable error of the transaction (aiokafka would raise it out of its sender task)."""

    def __init__(self, sender: Any, offsets: Any, member: GroupMetadata) -> None:
        super().__init__(sender, offsets, member.group_id)
        self._member = member

    def create_request(self) -> _TxnOffsetCommit:
        txn_manager = self._sender._txn_manager
        offsets: defaultdict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for tp, offset in sorted(self._offsets.items()):
            offsets[tp.topic].append((tp.partition, offset.offset, offset.metadata))
        return _TxnOffsetCommit(
            txn_manager.transactional_id,
            txn_manager.producer_id,
            txn_manager.producer_epoch,
            self._member,
            dict(offsets),
        )

    def handle_response(self, resp: Any) -> float | None:
        if isinstance(resp, TxnOffsetCommitResponse_v3):
            errors = [
                (topic, [(p, code) for p, code, _tags in partitions])
                for topic, partitions, _tags in resp.topics
            ]
        else:
            errors = resp.errors
        for topic, partitions in errors:
            for partition, code in partitions:
                if code in FENCING:
                    tp = KafkaTopicPartition(topic, partition)
                    self._sender._txn_manager.error_transaction(
                        StaleMemberError(
                            f"offsets of {tp} refused ({FENCING[code]}): member "
                            f"{self._member.member_id!r} of generation "
                            f"{self._member.generation_id} is no longer in group "
                            f"{self._member.group_id!r}"
                        )
                    )
                    return None
        result: float | None = super().handle_response(_V0View(errors))
        return result


class _V0View:
    """A response with v0's ``errors`` shape, for aiokafka's own handling."""

    def __init__(self, errors: Any) -> None:
        self.errors = errors


def install(producer: Any, member: Callable[[], GroupMetadata | None]) -> None:
    """Make ``producer`` (a started transactional ``AIOKafkaProducer``) send offsets with
    the group member ``member()`` returns when the request is built (None: aiokafka's v0).
    """
    sender = producer._sender
    original = sender._do_txn_offset_commit

    async def txn_offset_commit(self: Any, offsets: Any, group_id: str) -> None:
        current = member()
        if current is None or current.group_id != group_id or not offsets:
            await original(offsets, group_id)
            return
        # as aiokafka does: the request goes to the group's coordinator
        try:
            node_id = await self._find_coordinator(CoordinationType.GROUP, group_id)
        except kafka_errors.GroupAuthorizationFailedError as exc:
            self._txn_manager.error_transaction(exc)
            return
        await _Handler(self, offsets, current).do(node_id)

    sender._do_txn_offset_commit = types.MethodType(txn_offset_commit, sender)
