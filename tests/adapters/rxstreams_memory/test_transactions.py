"""Transactions on the memory broker: visibility per isolation level, control markers, the
last stable offset, fencing by a new producer and by the transaction timeout, offsets
committed with a transaction and checked against the member's generation."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pytest

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    CommitFailedError,
    ProducerFencedError,
    UnknownTopicError,
)
from rxstreams.messages import GroupMetadata, Message, TopicPartition
from rxstreams.types import ProducerConfig, ReaderConfig
from rxstreams_memory import MemoryBroker, MemoryProducer, MemoryReader, MemoryTransport

pytestmark = pytest.mark.looptime  # waits in getmany and transaction timeouts cost no real time

TP = TopicPartition("t", 0)
Isolation = Literal["read_committed", "read_uncommitted"]


async def txn_producer(
    transport: MemoryTransport, transactional_id: str = "txn", **config: Any
) -> MemoryProducer:
    producer = transport.create_producer(
        ProducerConfig(client_id=transactional_id, transactional_id=transactional_id, **config)
    )
    await producer.start()
    return producer


async def reader_of(
    transport: MemoryTransport, isolation: Isolation, *tps: TopicPartition
) -> MemoryReader:
    reader = transport.create_reader(ReaderConfig(client_id=isolation, isolation_level=isolation))
    await reader.start()
    await reader.assign(tps or [TP])
    return reader


async def read_all(reader: MemoryReader, timeout: float = 0.5) -> list[Message]:
    """What the reader gets until a fetch waits ``timeout`` for nothing."""
    got: list[Message] = []
    while batch := await reader.getmany(timeout=timeout):
        for messages in batch.values():
            got.extend(messages)
    return got


def offsets_values(messages: Sequence[Message]) -> list[tuple[int, bytes | None]]:
    return [(m.offset, m.value) for m in messages]


async def send(producer: MemoryProducer, *values: bytes, partition: int = 0) -> list[int]:
    return [(await (await producer.send("t", v, partition=partition))).offset for v in values]


async def test_committed_records_are_read_committed_aborted_ones_only_uncommitted(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """A committed transaction's records are read at both levels, an aborted one's only
    read_uncommitted; each end takes an offset for its marker, which no reader gets."""
    broker.create_topic("t", 1)
    producer = await txn_producer(transport)
    await producer.begin_transaction()
    assert await send(producer, b"a", b"b") == [0, 1]
    await producer.commit_transaction()  # marker at 2
    await producer.begin_transaction()
    assert await send(producer, b"x", b"y") == [3, 4]
    await producer.abort_transaction()  # marker at 5
    await producer.begin_transaction()
    assert await send(producer, b"c") == [6]
    await producer.commit_transaction()  # marker at 7

    committed = await reader_of(transport, "read_committed")
    uncommitted = await reader_of(transport, "read_uncommitted")
    assert offsets_values(await read_all(committed)) == [(0, b"a"), (1, b"b"), (6, b"c")]
    assert offsets_values(await read_all(uncommitted)) == [
        (0, b"a"),
        (1, b"b"),
        (3, b"x"),
        (4, b"y"),
        (6, b"c"),
    ]
    assert broker.end_offset(TP) == 8
    assert committed.highwater(TP) == uncommitted.highwater(TP) == 8
    assert committed.position(TP) == uncommitted.position(TP) == 8
    assert [m.offset for m in broker.records(TP)] == [0, 1, 3, 4, 6]
    assert [broker.aborted(TP, o) for o in (1, 3, 4, 6)] == [False, True, True, False]


@pytest.mark.parametrize("outcome", ["commit", "abort"])
async def test_an_open_transaction_holds_read_committed_readers_at_its_first_offset(
    broker: MemoryBroker, transport: MemoryTransport, producer: MemoryProducer, outcome: str
) -> None:
    """Plain records before an open transaction are read; the transaction's first offset
    is the last stable offset, the read_committed reader's end: plain records written
    after it wait too. A waiting getmany wakes when the transaction ends."""
    broker.create_topic("t", 1)
    txn = await txn_producer(transport)
    producer.send_soon("t", b"before", partition=0)  # 0
    await txn.begin_transaction()
    await send(txn, b"t1")  # 1
    producer.send_soon("t", b"plain", partition=0)  # 2
    await send(txn, b"t2")  # 3
    committed = await reader_of(transport, "read_committed")
    uncommitted = await reader_of(transport, "read_uncommitted")

    assert offsets_values(await read_all(committed)) == [(0, b"before")]
    assert committed.highwater(TP) == broker.last_stable_offset(TP) == 1
    assert uncommitted.highwater(TP) == 4
    assert [m.offset for m in await read_all(uncommitted)] == [0, 1, 2, 3]

    waiting = asyncio.create_task(committed.getmany(timeout=60))
    await asyncio.sleep(1)
    assert not waiting.done()
    if outcome == "commit":
        await txn.commit_transaction()
    else:
        await txn.abort_transaction()
    batch = await asyncio.wait_for(waiting, 0.1)  # woken at once, not after 60 s
    expected = [(1, b"t1"), (2, b"plain"), (3, b"t2")] if outcome == "commit" else [(2, b"plain")]
    assert offsets_values(batch[TP]) == expected
    assert committed.highwater(TP) == broker.last_stable_offset(TP) == 5


async def test_the_oldest_open_transaction_sets_the_last_stable_offset(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """Two open transactions: the stable offset is the older one's first offset, and
    moves to the younger one's when the older one ends, then to the end."""
    broker.create_topic("t", 1)
    older, younger = await txn_producer(transport, "older"), await txn_producer(transport, "y")
    await older.begin_transaction()
    await younger.begin_transaction()
    await send(older, b"o1")  # 0
    await send(younger, b"y1")  # 1
    await send(older, b"o2")  # 2
    assert broker.last_stable_offset(TP) == 0
    await older.commit_transaction()  # marker 3
    assert broker.last_stable_offset(TP) == 1
    reader = await reader_of(transport, "read_committed")
    assert offsets_values(await read_all(reader)) == [(0, b"o1")]
    await younger.abort_transaction()  # marker 4
    assert broker.last_stable_offset(TP) == broker.end_offset(TP) == 5
    assert offsets_values(await read_all(reader)) == [(2, b"o2")]


async def test_a_read_committed_group_consumer_skips_aborted_records_and_markers(
    broker: MemoryBroker, transport: MemoryTransport, make_consumer: Any
) -> None:
    """A group member reading committed gets only committed records, its highwater is the
    last stable offset, and auto_offset_reset="latest" starts there."""
    broker.create_topic("t", 1)
    txn = await txn_producer(transport)
    await txn.begin_transaction()
    await send(txn, b"gone")  # 0
    await txn.abort_transaction()  # 1
    await txn.begin_transaction()
    await send(txn, b"kept")  # 2
    await txn.commit_transaction()  # 3
    await txn.begin_transaction()
    await send(txn, b"open")  # 4
    consumer, _ = await make_consumer("c", isolation_level="read_committed")
    batch = await consumer.getmany(timeout=1)
    assert offsets_values(batch[TP]) == [(2, b"kept")]
    assert consumer.highwater(TP) == 4
    assert await consumer.getmany(timeout=1) == {}

    late, _ = await make_consumer(
        "late", group_id="other", isolation_level="read_committed", auto_offset_reset="latest"
    )
    assert await late.getmany(timeout=1) == {}
    assert late.position(TP) == 4  # the last stable offset, not the log end (5)
    await txn.commit_transaction()
    assert offsets_values((await late.getmany(timeout=1))[TP]) == [(4, b"open")]


async def test_a_new_producer_with_the_same_id_aborts_the_open_transaction_and_fences(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """The old producer left a transaction open (it crashed: no stop). Starting a new one
    with its transactional id aborts that transaction at once (read_committed readers move
    on) and fences the old producer: each of its calls raises ProducerFencedError."""
    broker.create_topic("t", 1)
    zombie = await txn_producer(transport, "worker-1")
    await zombie.begin_transaction()
    await send(zombie, b"zombie")  # 0
    reader = await reader_of(transport, "read_committed")
    assert await read_all(reader) == []
    assert broker.last_stable_offset(TP) == 0

    successor = await txn_producer(transport, "worker-1")
    assert broker.last_stable_offset(TP) == 2  # aborted: marker at 1
    assert broker.aborted(TP, 0)
    await successor.begin_transaction()
    await send(successor, b"new")  # 2
    await successor.commit_transaction()

    with pytest.raises(ProducerFencedError, match="worker-1"):
        await zombie.send("t", b"late", partition=0)
    for call in (zombie.commit_transaction, zombie.abort_transaction, zombie.begin_transaction):
        with pytest.raises(ProducerFencedError):
            await call()
    with pytest.raises(ProducerFencedError):
        await zombie.send_offsets_to_transaction({TP: 1}, GroupMetadata("g", -1, ""))
    assert offsets_values(await read_all(reader)) == [(2, b"new")]
    await zombie.stop()  # closing a fenced producer is fine
    assert broker.end_offset(TP) == 4


async def test_a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced(
    broker: MemoryBroker, transport: MemoryTransport, producer: MemoryProducer
) -> None:
    """An abandoned transaction holds read_committed readers back until
    transaction_timeout (loop time) passes from its first record; then the broker aborts
    it (a waiting reader wakes and reads what came after) and the producer is fenced."""
    broker.create_topic("t", 1)
    slow = await txn_producer(transport, transaction_timeout=10.0)
    await slow.begin_transaction()
    await asyncio.sleep(30)  # an empty transaction is not known to the broker yet
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send(slow, b"t")  # 0: the timeout starts here
    producer.send_soon("t", b"after", partition=0)  # 1
    reader = await reader_of(transport, "read_committed")
    batch = await reader.getmany(timeout=60)
    assert 9.9 <= loop.time() - started <= 10.1
    assert offsets_values(batch[TP]) == [(1, b"after")]
    assert broker.last_stable_offset(TP) == broker.end_offset(TP) == 3  # marker at 2
    assert broker.aborted(TP, 0)
    with pytest.raises(ProducerFencedError, match="transaction_timeout"):
        await slow.commit_transaction()
    with pytest.raises(ProducerFencedError):
        await slow.begin_transaction()


async def test_a_transaction_ended_in_time_does_not_time_out(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """The timeout counts per transaction: a producer whose transactions each end within
    it keeps working long past it."""
    broker.create_topic("t", 1)
    producer = await txn_producer(transport, transaction_timeout=10.0)
    for i in range(5):
        await producer.begin_transaction()
        await send(producer, b"%d" % i)
        await asyncio.sleep(8)
        await producer.commit_transaction()
    reader = await reader_of(transport, "read_committed")
    assert [m.value for m in await read_all(reader)] == [b"0", b"1", b"2", b"3", b"4"]


async def test_offsets_sent_in_a_transaction_are_committed_only_when_it_commits(
    broker: MemoryBroker, transport: MemoryTransport, make_consumer: Any
) -> None:
    """The group's committed offsets move when the transaction commits, together with its
    records; those of an aborted transaction are discarded."""
    broker.create_topic("t", 1)
    broker.create_topic("out", 1)
    consumer, _ = await make_consumer("c")
    await consumer.getmany(timeout=1)  # joined and assigned
    group = consumer.group_metadata()
    assert group == GroupMetadata("g", broker.group_generation("g"), consumer.member_id)
    producer = await txn_producer(transport)

    await producer.begin_transaction()
    await producer.send("out", b"o")
    await producer.send_offsets_to_transaction({TP: 5}, group)
    assert broker.committed("g", TP) is None
    await producer.commit_transaction()
    assert broker.committed("g", TP) == 5
    assert await consumer.committed(TP) == 5

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({TP: 9}, group)
    await producer.abort_transaction()
    assert broker.committed("g", TP) == 5

    await producer.begin_transaction()  # offsets alone make a transaction too
    await producer.send_offsets_to_transaction({TP: 7}, group)
    await producer.stop()  # stop aborts
    assert broker.committed("g", TP) == 5


async def test_offsets_of_a_member_the_group_moved_on_from_are_refused(
    broker: MemoryBroker, transport: MemoryTransport, make_consumer: Any
) -> None:
    """A member's metadata from before a rebalance names an old generation: the group
    coordinator refuses offsets sent with it (CommitFailedError, nothing committed), the
    metadata of its new generation is accepted; a member that left is refused, and so is
    a consumer of no generation while the group has members."""
    broker.create_topic("t", 2)
    a, _ = await make_consumer("a")
    assert a.group_metadata() == GroupMetadata("g", -1, "")  # joined, no assignment yet
    await a.getmany(timeout=1)
    old = a.group_metadata()
    b, _ = await make_consumer("b")
    await asyncio.gather(a.getmany(timeout=1), b.getmany(timeout=1))  # rebalanced
    assert a.group_metadata().generation_id == old.generation_id + 1
    producer = await txn_producer(transport)
    await producer.begin_transaction()
    with pytest.raises(CommitFailedError, match="ILLEGAL_GENERATION"):
        await producer.send_offsets_to_transaction({TopicPartition("t", 0): 3}, old)
    with pytest.raises(CommitFailedError, match="UNKNOWN_MEMBER_ID"):
        await producer.send_offsets_to_transaction(
            {TopicPartition("t", 0): 3}, GroupMetadata("g", -1, "")
        )
    await producer.abort_transaction()

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({TopicPartition("t", 0): 3}, a.group_metadata())
    await producer.commit_transaction()
    assert broker.committed("g", TopicPartition("t", 0)) == 3

    gone = b.group_metadata()
    await b.stop()
    await producer.begin_transaction()
    with pytest.raises(CommitFailedError, match="not a member"):
        await producer.send_offsets_to_transaction({TopicPartition("t", 1): 3}, gone)
    await producer.abort_transaction()
    assert broker.committed("g", TopicPartition("t", 1)) is None


async def test_a_group_with_no_members_takes_offsets_of_no_generation(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """With no live member (an app assigning partitions itself), generation -1 and no
    member id are accepted, as Kafka accepts them for an empty group."""
    broker.create_topic("t", 1)
    producer = await txn_producer(transport)
    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({TP: 4}, GroupMetadata("solo", -1, ""))
    await producer.commit_transaction()
    assert broker.committed("solo", TP) == 4


async def test_stop_aborts_the_open_transaction(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """Stopping a producer aborts its transaction (it is never committed) and unblocks
    read_committed readers at once; the transactional id is free for a new producer."""
    broker.create_topic("t", 1)
    producer = await txn_producer(transport)
    await producer.begin_transaction()
    await send(producer, b"unfinished")
    await producer.stop()
    assert broker.aborted(TP, 0)
    assert broker.last_stable_offset(TP) == broker.end_offset(TP) == 2
    with pytest.raises(BrokerUnavailableError):
        await producer.begin_transaction()
    reader = await reader_of(transport, "read_committed")
    assert await read_all(reader) == []
    again = await txn_producer(transport)
    await again.begin_transaction()
    await send(again, b"done")
    await again.commit_transaction()
    assert [m.value for m in await read_all(reader)] == [b"done"]


async def test_transaction_misuse_raises_app_state_errors(
    broker: MemoryBroker, transport: MemoryTransport, producer: MemoryProducer
) -> None:
    """Sends outside a transaction, begin twice, commit or abort with none open, calls
    before start, and transaction calls on a plain producer raise AppStateError."""
    broker.create_topic("t", 1)
    unstarted = transport.create_producer(ProducerConfig(client_id="u", transactional_id="u"))
    with pytest.raises(AppStateError, match="before start"):
        await unstarted.begin_transaction()
    txn = await txn_producer(transport)
    with pytest.raises(AppStateError, match="begin_transaction"):
        await txn.send("t", b"x")
    with pytest.raises(AppStateError, match="begin_transaction"):
        txn.send_soon("t", b"x")
    for call in (txn.commit_transaction, txn.abort_transaction):
        with pytest.raises(AppStateError, match="outside a transaction"):
            await call()
    await txn.begin_transaction()
    with pytest.raises(AppStateError, match="is open"):
        await txn.begin_transaction()
    await txn.abort_transaction()
    for plain_call in (
        producer.begin_transaction,
        producer.commit_transaction,
        producer.abort_transaction,
    ):
        with pytest.raises(AppStateError, match="not transactional"):
            await plain_call()
    with pytest.raises(AppStateError, match="not transactional"):
        await producer.send_offsets_to_transaction({TP: 1}, GroupMetadata("g", -1, ""))
    assert broker.end_offset(TP) == 0  # nothing was written, not even a marker


async def test_a_transaction_spanning_partitions_and_topics_ends_everywhere(
    broker: MemoryBroker, transport: MemoryTransport
) -> None:
    """One marker per partition written, none where the transaction wrote nothing."""
    broker.create_topic("t", 3)
    broker.create_topic("u", 1)
    producer = await txn_producer(transport)
    await producer.begin_transaction()
    await send(producer, b"a", partition=0)
    await send(producer, b"b", partition=2)
    await producer.send("u", b"c")
    await producer.commit_transaction()
    ends: Mapping[str, list[int]] = {
        "t": [broker.end_offset(TopicPartition("t", p)) for p in range(3)],
        "u": [broker.end_offset(TopicPartition("u", 0))],
    }
    assert ends == {"t": [2, 0, 2], "u": [2]}
    reader = await reader_of(
        transport,
        "read_committed",
        *(TopicPartition("t", p) for p in range(3)),
        TopicPartition("u", 0),
    )
    assert sorted(m.value or b"" for m in await read_all(reader)) == [b"a", b"b", b"c"]


async def test_retention_forgets_markers_and_aborted_offsets_with_their_records() -> None:
    """Past retention (the stored list trimmed several times), markers and aborted records
    leave with the rest of the log, and the ones still stored stay hidden."""
    broker = MemoryBroker(retention_messages=500)
    transport = MemoryTransport(broker=broker)
    broker.create_topic("t", 1)
    producer = await txn_producer(transport)
    for i in range(3000):  # 6000 offsets: a record and a marker each, odd ones aborted
        await producer.begin_transaction()
        await send(producer, b"%d" % i)
        if i % 2:
            await producer.abort_transaction()
        else:
            await producer.commit_transaction()
    assert broker.start_offset(TP) == 5500
    assert [m.offset for m in broker.records(TP)] == list(range(5500, 6000, 2))
    reader = await reader_of(transport, "read_committed")
    kept = await read_all(reader)
    assert [m.value for m in kept] == [b"%d" % i for i in range(2750, 3000, 2)]


async def test_records_in_a_transaction_are_routed_as_plain_ones(
    broker: MemoryBroker, transport: MemoryTransport, producer: MemoryProducer
) -> None:
    """Keys pick the same partitions in a transaction as outside one, unkeyed records go
    round-robin, and a partition the topic lacks is refused (nothing is written)."""
    broker.create_topic("t", 4)
    txn = await txn_producer(transport)
    await txn.begin_transaction()
    keys = [b"k%d" % i for i in range(12)]
    in_txn = [(await (await txn.send("t", b"v", key=k))).partition for k in keys]
    plain = [producer.send_soon("t", b"v", key=k).partition for k in keys]
    assert in_txn == plain
    assert len(set(in_txn)) > 1
    unkeyed = [(await (await txn.send("t", b"v"))).partition for _ in range(8)]
    assert unkeyed == [0, 1, 2, 3, 0, 1, 2, 3]
    landed = await (await txn.send("t", b"h", partition=2, headers=[("h", b"1")]))
    assert broker.records(TopicPartition("t", 2))[-1].headers == (("h", b"1"),)
    assert landed.partition == 2
    with pytest.raises(UnknownTopicError, match="partition 4 does not exist"):
        await txn.send("t", b"v", partition=4)
    with pytest.raises(UnknownTopicError, match="partition 4 does not exist"):
        producer.send_soon("t", b"v", partition=4)
    await txn.commit_transaction()


def test_a_transaction_left_open_on_a_closed_event_loop_is_aborted_when_read() -> None:
    """A producer abandoned with an open transaction in one event loop (a test, a
    notebook cell) that has ended: its timeout can no longer run, so the broker aborts
    the transaction when a read_committed reader of a later loop reaches it, and the
    records after it are read."""
    broker = MemoryBroker()
    transport = MemoryTransport(broker=broker)
    broker.create_topic("t", 1)

    async def abandon() -> None:
        producer = await txn_producer(transport)
        await producer.begin_transaction()
        await send(producer, b"abandoned")  # 0
        transport.create_producer(ProducerConfig(client_id="p")).send_soon("t", b"after")  # 1

    async def read() -> list[tuple[int, bytes | None]]:
        reader = await reader_of(transport, "read_committed")
        return offsets_values(await read_all(reader, timeout=0.1))

    asyncio.run(abandon())
    assert broker.last_stable_offset(TP) == broker.end_offset(TP) == 3  # aborted: marker at 2
    assert asyncio.run(read()) == [(1, b"after")]
    assert broker.aborted(TP, 0)
