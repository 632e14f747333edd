"""Committed offsets read only once no transaction is still committing them (KIP-447).

A transaction's offsets become the group's committed offsets a moment *after* the
transaction commits: the transaction coordinator writes its markers asynchronously. A
member that reads the committed offsets in that moment (the partitions' next owner, right
after a rebalance) would get the older ones and process that input a second time.
``OffsetFetch`` v7 asks the group coordinator for *stable* offsets: while a partition has
offsets pending in a transaction, it answers ``UNSTABLE_OFFSET_COMMIT`` and the member
asks again. aiokafka (0.14) sends v3, which never waits; :func:`install` makes one
consumer's group coordinator send v7 instead (v3 for brokers before Kafka 2.5).
"""

from __future__ import annotations

import types
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)
from aiokafka.structs import OffsetAndMetadata
from aiokafka.structs import TopicPartition as KafkaTopicPartition

__all__ = ("UnstableOffsetCommitError", "install")

_UNSTABLE_OFFSET_COMMIT = 88


class UnstableOffsetCommitError(kafka_errors.KafkaError):  # type: ignore[misc]
    """A transaction is still committing offsets of the partition: ask again shortly."""

    errno = _UNSTABLE_OFFSET_COMMIT
    retriable = True


class OffsetFetchResponse_v7(Response):  # type: ignore[misc]
    API_KEY = 9
    API_VERSION = 7
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
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("metadata", CompactString("utf-8")),
                        ("error_code", Int16),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("error_code", Int16),
        ("tags", TaggedFields),
    )


class OffsetFetchRequest_v7(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 7
    RESPONSE_TYPE = OffsetFetchResponse_v7
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partition_indexes", CompactArray(Int32)),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class _StableOffsetFetch(Request[OffsetFetchRequest_v7]):  # type: ignore[misc]
    API_KEY = 9

    def __init__(self, group_id: str, topics: list[tuple[str, list[int]]]) -> None:
        self._group_id = group_id
        self._topics = topics

    def build(self, request_struct_class: type[OffsetFetchRequest_v7]) -> OffsetFetchRequest_v7:
        topics: list[Any] = [(name, partitions, {}) for name, partitions in self._topics]
        return request_struct_class(self._group_id, topics, True, {})


def install(consumer: Any) -> None:
    """Make a started ``AIOKafkaConsumer`` in a group read only stable committed offsets."""
    coordinator = consumer._coordinator
    original = coordinator._do_fetch_commit_offsets
    state = {"v7": True}

    async def fetch_stable(self: Any, partitions: Iterable[Any]) -> dict[Any, Any]:
        if not state["v7"]:
            result: dict[Any, Any] = await original(partitions)
            return result
        by_topic: defaultdict[str, list[int]] = defaultdict(list)
        for tp in partitions:
            by_topic[tp.topic].append(tp.partition)
        try:
            response = await self._send_req(
                _StableOffsetFetch(self.group_id, list(by_topic.items()))
            )
        except (kafka_errors.IncompatibleBrokerVersion, NotImplementedError):
            state["v7"] = False  # a broker before Kafka 2.5: no stable offsets to wait for
            result = await original(partitions)
            return result
        return _offsets(self, response)

    coordinator._do_fetch_commit_offsets = types.MethodType(fetch_stable, coordinator)


def _offsets(coordinator: Any, response: Any) -> dict[Any, Any]:
    """aiokafka's handling of an OffsetFetch response, plus UNSTABLE_OFFSET_COMMIT."""
    if response.error_code:
        error_type = kafka_errors.for_code(response.error_code)
        if error_type is kafka_errors.NotCoordinatorForGroupError:
            coordinator.coordinator_dead()
        raise error_type()
    offsets: dict[Any, Any] = {}
    for name, partitions, _tags in response.topics:
        for partition, offset, _epoch, metadata, error_code, _ptags in partitions:
            tp = KafkaTopicPartition(name, partition)
            if error_code == _UNSTABLE_OFFSET_COMMIT:
                raise UnstableOffsetCommitError(f"offsets of {tp} are being committed")
            if error_code:
                error_type = kafka_errors.for_code(error_code)
                if error_type is kafka_errors.UnknownTopicOrPartitionError:
                    continue
                if error_type is kafka_errors.NotCoordinatorForGroupError:
                    coordinator.coordinator_dead()
                raise error_type()
            if offset >= 0:
                offsets[tp] = OffsetAndMetadata(offset, metadata or "")
    return offsets
