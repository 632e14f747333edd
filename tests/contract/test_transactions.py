"""Transactions at the producer and consumer level, the same on every broker: what
read_committed and read_uncommitted readers see, the markers' offsets, the last stable
offset, fencing by a new producer of the same transactional id, offsets committed with a
transaction and refused from a generation the group moved on from, stop aborting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any, Literal

import pytest

from rxstreams.errors import CommitFailedError, ProducerFencedError
from rxstreams.messages import TopicPartition
from rxstreams.transports import transport_from_url
from rxstreams.types import (
    ConsumerConfig,
    ConsumerT,
    MessageT,
    ProducerConfig,
    ProducerT,
    ReaderConfig,
    ReaderT,
    TransportT,
)
from tests.contract.conftest import Cluster

Isolation = Literal["read_committed", "read_uncommitted"]


@pytest.fixture
async def transport(cluster: Cluster) -> AsyncIterator[TransportT]:
    """A transport of the test's broker, as a user opens one; closed at the end."""
    opened = transport_from_url(cluster.url)
    try:
        yield opened
    finally:
        await opened.close()


async def txn_producer(transport: TransportT, transactional_id: str) -> ProducerT:
    producer = transport.create_producer(
        ProducerConfig(client_id="contract-txn", transactional_id=transactional_id)
    )
    await producer.start()
    return producer


async def reader(transport: TransportT, isolation: Isolation, tp: TopicPartition) -> ReaderT:
    made = transport.create_reader(
        ReaderConfig(client_id="contract-txn", fetch_max_wait=0.05, isolation_level=isolation)
    )
    await made.start()
    await made.assign([tp])
    return made


async def read_until(
    source: ReaderT | ConsumerT,
    last: Callable[[MessageT], bool],
    *,
    within: float = 20.0,
) -> list[tuple[int, bytes | None]]:
    """(offset, value) of every record read until one for which ``last`` is true (a
    sentinel written after what the test looks at: what came before it has come)."""
    got: list[tuple[int, bytes | None]] = []
    async with asyncio.timeout(within):
        while True:
            for messages in (await source.getmany(timeout=0.2)).values():
                for m in messages:
                    got.append((m.offset, m.value))
                    if last(m):
                        return got


def is_value(value: bytes) -> Callable[[MessageT], bool]:
    return lambda m: m.value == value


async def send(producer: ProducerT, topic: str, *values: bytes) -> list[int]:
    return [(await (await producer.send(topic, v, partition=0))).offset for v in values]


async def test_committed_records_are_read_committed_aborted_ones_only_uncommitted(
    cluster: Cluster, transport: TransportT
) -> None:
    """Committed records are read at both isolation levels, aborted ones only
    read_uncommitted; every end of a transaction takes one offset (its marker), which no
    reader gets, so the offsets read have gaps."""
    topic = cluster.name("txn-out")
    await cluster.create_topic(topic, 1)
    tp = TopicPartition(topic, 0)
    producer = await txn_producer(transport, cluster.name("txn"))
    await producer.begin_transaction()
    assert await send(producer, topic, b"a", b"b") == [0, 1]
    await producer.commit_transaction()  # marker at 2
    await producer.begin_transaction()
    assert await send(producer, topic, b"x") == [3]
    await producer.abort_transaction()  # marker at 4
    await producer.begin_transaction()
    assert await send(producer, topic, b"end") == [5]
    await producer.commit_transaction()
    await producer.stop()

    committed = await reader(transport, "read_committed", tp)
    uncommitted = await reader(transport, "read_uncommitted", tp)
    assert await read_until(committed, is_value(b"end")) == [(0, b"a"), (1, b"b"), (5, b"end")]
    assert await read_until(uncommitted, is_value(b"end")) == [
        (0, b"a"),
        (1, b"b"),
        (3, b"x"),
        (5, b"end"),
    ]
    await cluster.eventually(lambda: committed.highwater(tp) == 7, within=10)
    assert await committed.getmany(timeout=0.5) == {}  # the marker at 6 is never returned
    assert committed.position(tp) == 7


async def test_an_open_transaction_holds_read_committed_readers_back_until_it_commits(
    cluster: Cluster, transport: TransportT
) -> None:
    """A record written after an open transaction's first record waits behind it for a
    read_committed reader, whose end is the transaction's first offset; a
    read_uncommitted reader reads both at once. The commit releases both records."""
    topic = cluster.name("txn-lso")
    await cluster.create_topic(topic, 1)
    tp = TopicPartition(topic, 0)
    producer = await txn_producer(transport, cluster.name("txn"))
    await producer.begin_transaction()
    await send(producer, topic, b"in-txn")  # 0
    await cluster.produce(topic, [(None, "plain")], partition=lambda k, v: 0)  # 1

    committed = await reader(transport, "read_committed", tp)
    uncommitted = await reader(transport, "read_uncommitted", tp)
    assert await read_until(uncommitted, is_value(b'"plain"')) == [(0, b"in-txn"), (1, b'"plain"')]
    for _ in range(5):
        assert await committed.getmany(timeout=0.2) == {}
    assert committed.highwater(tp) == 0

    await producer.commit_transaction()  # marker at 2
    assert await read_until(committed, is_value(b'"plain"')) == [(0, b"in-txn"), (1, b'"plain"')]
    await cluster.eventually(lambda: committed.highwater(tp) == 3, within=10)
    await producer.stop()


async def test_a_new_producer_of_the_same_transactional_id_fences_the_old_one(
    cluster: Cluster, transport: TransportT
) -> None:
    """A producer that starts with the transactional id of one with an open transaction
    aborts that transaction and fences it: the old producer's commit raises
    ProducerFencedError, and read_committed readers never see its records."""
    topic, txn_id = cluster.name("txn-fence"), cluster.name("txn")
    await cluster.create_topic(topic, 1)
    tp = TopicPartition(topic, 0)
    zombie = await txn_producer(transport, txn_id)
    await zombie.begin_transaction()
    await send(zombie, topic, b"zombie")
    successor = await txn_producer(transport, txn_id)
    await successor.begin_transaction()
    await send(successor, topic, b"new")
    await successor.commit_transaction()
    with pytest.raises(ProducerFencedError):
        await zombie.commit_transaction()
    await zombie.stop()  # a fenced producer stops without raising

    committed = await reader(transport, "read_committed", tp)
    values = [value for _, value in await read_until(committed, is_value(b"new"))]
    assert values == [b"new"]
    await successor.stop()


async def test_stop_aborts_the_open_transaction(cluster: Cluster, transport: TransportT) -> None:
    """A producer stopped with a transaction open aborts it: its records are never read
    committed, and the records after them are."""
    topic = cluster.name("txn-stop")
    await cluster.create_topic(topic, 1)
    tp = TopicPartition(topic, 0)
    producer = await txn_producer(transport, cluster.name("txn"))
    await producer.begin_transaction()
    await send(producer, topic, b"unfinished")
    await producer.stop()
    await cluster.produce(topic, [(None, "after")], partition=lambda k, v: 0)
    committed = await reader(transport, "read_committed", tp)
    assert [v for _, v in await read_until(committed, is_value(b'"after"'))] == [b'"after"']


class _Listener:
    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        pass


async def consumer(transport: TransportT, group: str, topic: str, **config: Any) -> ConsumerT:
    made = transport.create_consumer(
        [topic],
        _Listener(),
        ConsumerConfig(
            group_id=group,
            client_id="contract-txn",
            session_timeout=6.0,
            fetch_max_wait=0.05,
            **config,
        ),
    )
    await made.start()
    return made


async def poll_until(
    consumers: Collection[ConsumerT], done: Callable[[], bool], within: float = 30.0
) -> None:
    """Fetch on every consumer at once (the group protocol runs in fetches) until ``done``."""
    async with asyncio.timeout(within):
        while not done():
            await asyncio.gather(*(c.getmany(timeout=0.2) for c in consumers))


async def test_offsets_sent_in_a_transaction_are_committed_only_when_it_commits(
    cluster: Cluster, transport: TransportT
) -> None:
    """The group's committed offset moves when the transaction carrying it commits, and
    not when it aborts."""
    topic, group = cluster.name("txn-in"), cluster.name("txn-group")
    await cluster.create_topic(topic, 1)
    tp = TopicPartition(topic, 0)
    member = await consumer(transport, group, topic, isolation_level="read_committed")
    await poll_until([member], lambda: bool(member.assignment()))
    metadata = member.group_metadata()
    assert metadata.group_id == group
    assert metadata.member_id != ""
    assert metadata.generation_id >= 1
    producer = await txn_producer(transport, cluster.name("txn"))

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({tp: 3}, metadata)
    await producer.commit_transaction()
    assert await member.committed(tp) == 3

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({tp: 8}, metadata)
    await producer.abort_transaction()
    assert await member.committed(tp) == 3
    await producer.stop()
    await member.stop()


async def test_offsets_from_a_generation_the_group_moved_on_from_are_refused(
    cluster: Cluster, transport: TransportT
) -> None:
    """After a second member joins and the group rebalances, offsets sent with the first
    member's metadata from before are refused (CommitFailedError; the transaction is then
    aborted and nothing is committed); its metadata of the new generation is accepted."""
    topic, group = cluster.name("txn-in"), cluster.name("txn-group")
    await cluster.create_topic(topic, 2)
    # read_committed: committed() waits for the stable offsets (on Kafka, a
    # read_uncommitted member may read the offsets of before right after a commit)
    first = await consumer(transport, group, topic, isolation_level="read_committed")
    await poll_until([first], lambda: len(first.assignment()) == 2)
    old = first.group_metadata()
    second = await consumer(transport, group, topic, isolation_level="read_committed")
    await poll_until(
        [first, second],
        lambda: (
            len(first.assignment()) == len(second.assignment()) == 1
            and first.group_metadata().generation_id > old.generation_id
        ),
    )
    new = first.group_metadata()
    mine = next(iter(first.assignment()))
    producer = await txn_producer(transport, cluster.name("txn"))

    await producer.begin_transaction()
    with pytest.raises(CommitFailedError):
        await producer.send_offsets_to_transaction({mine: 4}, old)
    await producer.abort_transaction()
    assert await first.committed(mine) is None

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({mine: 4}, new)
    await producer.commit_transaction()
    assert await first.committed(mine) == 4
    await producer.stop()
    await asyncio.gather(first.stop(), second.stop())
