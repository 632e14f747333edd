"""Pausing without aiokafka's pause(): getmany leaves paused partitions out, waits for a
resume when everything is paused, and a rebalance forgets pauses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import consume, offsets, wait_assigned

pytestmark = pytest.mark.kafka


async def test_getmany_with_everything_paused_returns_at_the_resume(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """With every partition paused, getmany waits for a resume (not for its timeout) and
    returns nothing; the records fetched before the pause are all returned after it."""
    topic = names("t")
    tp = TopicPartition(topic, 0)
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, _ = await make_consumer("c", [topic], group_id=names("g"))
    await wait_assigned(consumer, partitions=1)
    await asyncio.gather(*[await producer.send(topic, b"%d" % i) for i in range(10)])
    first = await consumer.getmany(timeout=5, max_records=3)
    assert offsets(first) == {tp: [0, 1, 2]}  # the rest is prefetched

    consumer.pause([tp])
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, consumer.resume, [tp])
    started = loop.time()
    assert await consumer.getmany(timeout=10) == {}
    assert loop.time() - started < 5
    assert consumer.paused() == frozenset()
    assert offsets(await consume(consumer, 7)) == {tp: [3, 4, 5, 6, 7, 8, 9]}


async def test_a_rebalance_forgets_pauses(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """As with aiokafka's own pause: partitions assigned again start unpaused."""
    first, second = names("first"), names("second")
    await transport.create_topics([TopicSpec(first, 1), TopicSpec(second, 1)])
    consumer, _ = await make_consumer("c", [first], group_id=names("g"))
    await wait_assigned(consumer, partitions=1)
    consumer.pause([TopicPartition(first, 0)])
    assert consumer.paused() == {TopicPartition(first, 0)}
    consumer.subscribe([first, second])
    await wait_assigned(consumer, partitions=2)
    assert consumer.paused() == frozenset()
    await (await producer.send(first, b"again"))
    assert [m.value for ms in (await consume(consumer, 1)).values() for m in ms] == [b"again"]
