"""KafkaConsumer.crash(): the member dies as a killed process does — no commit, no listener
call, no LeaveGroup — so the group waits out its session before handing its partitions on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rxstreams.errors import BrokerUnavailableError
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import (
    Journal,
    consume,
    wait_assigned,
)

pytestmark = pytest.mark.kafka


async def test_a_crashed_member_is_dropped_only_when_its_session_expires(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    journal: Journal,
    names: Callable[[str], str],
) -> None:
    """Two members, one partition each, in a generation where aiokafka's stop() would
    send LeaveGroup. After crash() the other member gets the crashed one's partition only
    once its 2 s session expired (a stop() hands it over at once), and reads it from the
    last commit: nothing was committed or revoked at the crash."""
    topic, group = names("t"), names("g")
    await transport.create_topics([TopicSpec(topic, 2)])
    tps = [TopicPartition(topic, p) for p in range(2)]
    await asyncio.gather(
        *[await producer.send(topic, b"%d" % i, partition=p) for p in range(2) for i in range(5)]
    )
    first, _ = await make_consumer("first", [topic], group_id=group)
    await wait_assigned(first, partitions=2)  # the second member's join is a rebalance
    second, _ = await make_consumer("second", [topic], group_id=group)
    owned = await wait_assigned(first, second, partitions=2)
    mine = next(iter(owned[0]))
    # a member of a generation > 0, which aiokafka's stop() would take out of the group
    assert first._consumer._coordinator.generation > 0
    await first.commit({mine: 2})  # as if it had processed two records

    loop = asyncio.get_running_loop()
    crashed, before = loop.time(), len(journal)
    first.crash()
    assert first.stopped
    assert first.assignment() == frozenset()
    with pytest.raises(BrokerUnavailableError, match="stopped consumer"):
        await first.getmany(timeout=0.1)

    got: list[int] = []
    deadline = loop.time() + 15
    while not got and loop.time() < deadline:  # the new assignment comes during getmany
        got.extend(r.offset for r in (await second.getmany(timeout=0.2)).get(mine, []))
    assert loop.time() - crashed >= 1.8  # the crashed member's session had to expire
    assert second.assignment() == frozenset(tps)
    got.extend(r.offset for r in (await consume(second, 3 - len(got), within=5)).get(mine, []))
    assert got == [2, 3, 4]
    assert [entry for entry in journal[before:] if entry[0] == "first"] == []
    assert await second.committed(mine) == 2
    await first.stop()  # waits for the connections the crash is closing; no error


async def test_crash_before_start_or_twice_does_nothing(
    make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """A consumer never started, or crashed already, is left as it is."""
    consumer, _ = await make_consumer("c", [names("t")], group_id=names("g"), start=False)
    consumer.crash()
    assert not consumer.stopped
    await consumer.start()
    consumer.crash()
    consumer.crash()
    assert consumer.stopped
    await consumer.stop()
