"""The consumer against Apache Kafka: commits, rebalances, pause/resume, subscriptions, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rxstreams.errors import AppStateError, BrokerUnavailableError, CommitFailedError
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import Journal, consume, offsets, wait_assigned

pytestmark = pytest.mark.kafka


async def fill(producer: KafkaProducer, topic: str, partitions: int, count: int) -> None:
    """``count`` records in each partition, on the broker when this returns."""
    futures = [
        await producer.send(topic, b"%d-%d" % (p, i), partition=p)
        for p in range(partitions)
        for i in range(count)
    ]
    await asyncio.gather(*futures)


async def test_a_new_member_resumes_at_the_committed_offset(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """A manual commit is what the next member of the group starts from; a stopped
    member leaves the group at once, so the next one gets its partitions quickly."""
    topic, group = names("t"), names("g")
    tp = TopicPartition(topic, 0)
    await transport.create_topics([TopicSpec(topic, 1)])
    await fill(producer, topic, 1, 5)
    first, _ = await make_consumer("first", [topic], group_id=group)
    assert offsets(await consume(first, 5)) == {tp: [0, 1, 2, 3, 4]}
    assert await first.committed(tp) is None
    await first.commit({tp: 2})
    assert await first.committed(tp) == 2
    assert first.highwater(tp) == 5
    await first.stop()
    loop = asyncio.get_running_loop()
    stopped = loop.time()

    second, _ = await make_consumer("second", [topic], group_id=group, auto_offset_reset="latest")
    assert offsets(await consume(second, 3)) == {tp: [2, 3, 4]}
    # the first member left the group at stop(): the second did not wait for its
    # session (2 s) to expire and the group to re-form
    assert loop.time() - stopped < 3.0


async def test_latest_skips_what_was_there_before(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """With no committed offset, auto_offset_reset='latest' reads only new records."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    await fill(producer, topic, 1, 3)
    consumer, _ = await make_consumer("c", [topic], group_id=names("g"), auto_offset_reset="latest")
    await wait_assigned(consumer, partitions=1)
    await consumer.getmany(timeout=0.3)  # the position is resolved on the first fetch
    await (await producer.send(topic, b"new"))
    got = await consume(consumer, 1)
    assert [m.value for m in got[TopicPartition(topic, 0)]] == [b"new"]


async def test_two_members_split_the_partitions_and_the_listener_sees_the_rebalance(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    journal: Journal,
    names: Callable[[str], str],
) -> None:
    """A second member takes half the partitions; the first is revoked before reassigned,
    and commits made on revoke are what the new owner starts from."""
    topic, group = names("t"), names("g")
    all_tps = frozenset(TopicPartition(topic, p) for p in range(4))
    await transport.create_topics([TopicSpec(topic, 4)])
    await fill(producer, topic, 4, 2)
    a, listener_a = await make_consumer("a", [topic], group_id=group)
    await consume(a, 8)
    assert a.assignment() == all_tps
    listener_a.to_commit = {tp: 2 for tp in all_tps}  # everything read: commit on revoke

    b, _ = await make_consumer("b", [topic], group_id=group)
    owned_a, owned_b = await wait_assigned(a, b, partitions=4)

    assert owned_a | owned_b == all_tps
    assert len(owned_a) == len(owned_b) == 2
    calls = [(name, what) for name, what, _ in journal]
    # each member's calls in order (the two members' calls interleave as they may)
    of_a = [(what, tps) for name, what, tps in journal if name == "a"]
    assert [what for what, _ in of_a][:4] == ["assigned", "revoked", "committed", "assigned"]
    assert ("b", "assigned") in calls
    assert ("b", "revoked") not in calls  # a member's first join revokes nothing
    assert of_a[1][1] == all_tps
    for tp in owned_b:
        assert await b.committed(tp) == 2
    await fill(producer, topic, 4, 1)
    got = await consume(b, 2)
    assert offsets(got) == {tp: [2] for tp in owned_b}


async def test_a_commit_for_a_partition_of_another_member_is_refused(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """Committing a partition this member does not own raises our CommitFailedError."""
    topic, group = names("t"), names("g")
    await transport.create_topics([TopicSpec(topic, 2)])
    a, _ = await make_consumer("a", [topic], group_id=group)
    b, _ = await make_consumer("b", [topic], group_id=group)
    _, owned_b = await wait_assigned(a, b, partitions=2)
    (foreign,) = owned_b
    with pytest.raises(CommitFailedError, match="may belong to another member") as info:
        await a.commit({foreign: 1})
    assert not info.value.retriable
    assert await a.committed(foreign) is None


async def test_commit_after_leaving_the_group_is_refused(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """After stop(), commit() raises BrokerUnavailableError; before start(), AppStateError."""
    topic = names("t")
    tp = TopicPartition(topic, 0)
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, _ = await make_consumer("c", [topic], group_id=names("g"), start=False)
    with pytest.raises(AppStateError, match="before start"):
        await consumer.commit({tp: 1})
    await consumer.start()
    await wait_assigned(consumer, partitions=1)
    await consumer.stop()
    with pytest.raises(BrokerUnavailableError, match="stopped consumer") as info:
        await consumer.commit({tp: 1})
    assert not info.value.retriable
    assert consumer.assignment() == frozenset()


async def test_pause_and_resume(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    names: Callable[[str], str],
) -> None:
    """Paused partitions return nothing until resumed; unassigned ones are ignored."""
    topic = names("t")
    t0, t1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await transport.create_topics([TopicSpec(topic, 2)])
    consumer, _ = await make_consumer("c", [topic], group_id=names("g"))
    await wait_assigned(consumer, partitions=2)
    consumer.pause([t0, TopicPartition("not-assigned", 0)])
    assert consumer.paused() == frozenset({t0})
    await fill(producer, topic, 2, 2)
    assert offsets(await consume(consumer, 2)) == {t1: [0, 1]}
    assert await consumer.getmany(timeout=0.3) == {}

    consumer.resume([t0])
    assert consumer.paused() == frozenset()
    assert offsets(await consume(consumer, 2)) == {t0: [0, 1]}


async def test_subscribe_to_another_topic(
    transport: KafkaTransport,
    producer: KafkaProducer,
    make_consumer: MakeConsumer,
    journal: Journal,
    names: Callable[[str], str],
) -> None:
    """subscribe() widens the subscription: the listener is revoked while a commit still
    counts, then the group rebalances and hands out the new topic too."""
    first, second = names("first"), names("second")
    await transport.create_topics([TopicSpec(first, 1), TopicSpec(second, 2)])
    consumer, listener = await make_consumer("c", [first], group_id=names("g"))
    await wait_assigned(consumer, partitions=1)
    listener.to_commit = {TopicPartition(first, 0): 0}

    consumer.subscribe([first, second])
    assert consumer.topics == {first, second}
    await wait_assigned(consumer, partitions=3)
    await (await producer.send(second, b"hello", partition=1))
    got = await consume(consumer, 1)

    assert [m.value for m in got[TopicPartition(second, 1)]] == [b"hello"]
    assert [what for _, what, _ in journal] == ["assigned", "revoked", "committed", "assigned"]
    assert await consumer.committed(TopicPartition(first, 0)) == 0  # committed on revoke


async def test_an_error_in_the_listener_comes_out_of_getmany(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """What the rebalance listener raises is raised by the next getmany, once."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, listener = await make_consumer("c", [topic], group_id=names("g"))
    listener.fail_on_assign = RuntimeError("listener broke")
    with pytest.raises(RuntimeError, match="listener broke"):
        await wait_assigned(consumer, partitions=1)
    assert consumer.assignment() == {TopicPartition(topic, 0)}
    assert await consumer.getmany(timeout=0) == {}


async def test_getmany_waits_no_longer_than_its_timeout_during_a_rebalance(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """While the group is forming (aiokafka would wait for it), getmany returns {} in time."""
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, _ = await make_consumer("c", [topic], group_id=names("g"), session_timeout=4.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await consumer.getmany(timeout=0.2) == {}
    assert loop.time() - started < 1.0
