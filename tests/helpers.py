"""Helpers for the tests: producing to the embedded broker and reading committed offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from rxstreams import App, TopicPartition
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport

AppFactory = Callable[..., App]


def fill(
    broker: MemoryBroker,
    topic: str,
    values: Iterable[Any],
    *,
    partitions: int = 1,
    key: Callable[[Any], Any] | None = None,
) -> None:
    """Produce JSON values (and keys) to ``topic`` on the broker, creating it if needed."""
    broker.create_topic(topic, partitions)
    producer = MemoryTransport(broker=broker).create_producer(_producer_config())
    for v in values:
        k = None if key is None else orjson.dumps(key(v))
        producer.send_soon(topic, orjson.dumps(v), key=k)


def committed(broker: MemoryBroker, group: str, topic: str, partition: int = 0) -> int | None:
    """The group's committed offset of one partition."""
    return broker.committed(group, TopicPartition(topic, partition))


def _producer_config() -> ProducerConfig:
    return ProducerConfig(client_id="test-fill")


def recorded(messages: list[Any], *, ndigits: int | None = None) -> list[tuple[float, Any]]:
    """A TestScheduler's recorded notifications as ``(time, value)``; completion is "C",
    an error "E"."""
    out: list[tuple[float, Any]] = []
    for m in messages:
        n = m.value
        t = m.time if ndigits is None else round(m.time, ndigits)
        out.append((t, n.value if n.kind == "N" else n.kind))
    return out
