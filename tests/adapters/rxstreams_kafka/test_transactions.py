"""What the Kafka adapter adds to aiokafka's transactions: offsets fenced by the member's
generation (TxnOffsetCommit v3, KIP-447), committed offsets read only once stable
(OffsetFetch v7), the last stable offset as a read_committed reader's end, and errors
translated (a fenced producer, a send outside a transaction)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rxstreams.errors import AppStateError, CommitFailedError, ProducerFencedError
from rxstreams.messages import GroupMetadata, TopicPartition, TopicSpec
from rxstreams.types import ProducerConfig, ReaderConfig
from rxstreams_kafka import KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import wait_assigned

pytestmark = pytest.mark.kafka


async def test_offsets_of_a_stale_generation_are_refused_and_the_transaction_aborts(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """The coordinator checks the member and generation sent with a transaction's offsets:
    the consumer's own metadata is accepted; an older generation of the same member is
    refused with CommitFailedError, and after the abort the group's offset is unchanged."""
    topic, group = names("in"), names("group")
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, _ = await make_consumer(
        "member", [topic], group_id=group, isolation_level="read_committed"
    )
    await wait_assigned(consumer, partitions=1)
    me = consumer.group_metadata()
    assert (me.group_id, me.member_id != "", me.generation_id >= 1) == (group, True, True)
    producer = transport.create_producer(
        ProducerConfig(client_id="p", transactional_id=names("txn"))
    )
    await producer.start()
    tp = TopicPartition(topic, 0)

    await producer.begin_transaction()
    await producer.send_offsets_to_transaction({tp: 3}, me)
    await producer.commit_transaction()
    assert await consumer.committed(tp) == 3

    await producer.begin_transaction()
    stale = GroupMetadata(group, me.generation_id + 7, me.member_id)
    with pytest.raises(CommitFailedError, match="ILLEGAL_GENERATION"):
        await producer.send_offsets_to_transaction({tp: 5}, stale)
    await producer.abort_transaction()
    assert await consumer.committed(tp) == 3

    await producer.begin_transaction()  # the producer is usable again
    with pytest.raises(CommitFailedError, match="not a member"):
        await producer.send_offsets_to_transaction({tp: 5}, GroupMetadata(group, -1, ""))
    await producer.abort_transaction()
    await producer.stop()


async def test_committed_offsets_are_read_once_the_transaction_s_markers_are_written(
    transport: KafkaTransport, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """Right after commit_transaction returns, the group's offsets are only being written
    (asynchronously, by the transaction coordinator): a read_committed consumer asks for
    stable offsets and gets the new ones every time, never the ones before."""
    topic, group = names("in"), names("group")
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer, _ = await make_consumer(
        "member", [topic], group_id=group, isolation_level="read_committed"
    )
    await wait_assigned(consumer, partitions=1)
    producer = transport.create_producer(
        ProducerConfig(client_id="p", transactional_id=names("txn"))
    )
    await producer.start()
    tp = TopicPartition(topic, 0)
    seen = []
    for offset in range(1, 11):
        await producer.begin_transaction()
        await producer.send_offsets_to_transaction({tp: offset}, consumer.group_metadata())
        await producer.commit_transaction()
        seen.append(await consumer.committed(tp))
    assert seen == list(range(1, 11))
    await producer.stop()


async def test_a_read_committed_reader_ends_at_the_last_stable_offset(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """While a transaction is open, a read_committed reader's end is where it began (the
    last stable offset) and it reads nothing past it; once it commits, the end moves
    past the commit marker and the records are read; aborted records never are."""
    topic = names("out")
    await transport.create_topics([TopicSpec(topic, 1)])
    producer = transport.create_producer(
        ProducerConfig(client_id="p", transactional_id=names("txn"))
    )
    await producer.start()
    reader = transport.create_reader(
        ReaderConfig(client_id="r", fetch_max_wait=0.05, isolation_level="read_committed")
    )
    await reader.start()
    tp = TopicPartition(topic, 0)
    await reader.assign([tp])

    await producer.begin_transaction()
    await (await producer.send(topic, b"aborted"))
    await producer.abort_transaction()
    await producer.begin_transaction()
    await (await producer.send(topic, b"open"))
    assert await reader.getmany(timeout=0.5) == {}
    assert reader.highwater(tp) == 2  # the aborted record and its marker: 0 and 1
    await producer.commit_transaction()
    values = []
    for _ in range(20):
        values += [m.value for ms in (await reader.getmany(timeout=0.2)).values() for m in ms]
        if values:
            break
    assert values == [b"open"]
    assert reader.highwater(tp) == 4  # "open" at 2, its commit marker at 3
    await reader.stop()
    await producer.stop()


async def test_transaction_misuse_and_fencing_are_rxstreams_errors(
    transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """A send outside a transaction, a transaction on a plain producer: AppStateError. A
    second producer started with the same transactional id fences the first: its commit
    raises ProducerFencedError, and what it sent is never visible."""
    topic, txn = names("out"), names("txn")
    await transport.create_topics([TopicSpec(topic, 1)])
    plain = transport.create_producer(ProducerConfig(client_id="plain"))
    await plain.start()
    with pytest.raises(AppStateError, match="not transactional"):
        await plain.begin_transaction()
    first = transport.create_producer(ProducerConfig(client_id="first", transactional_id=txn))
    await first.start()
    with pytest.raises(AppStateError, match="send between begin_transaction"):
        await first.send(topic, b"x")
    await first.begin_transaction()
    with pytest.raises(AppStateError, match="open already"):
        await first.begin_transaction()
    await first.send(topic, b"zombie")
    second = transport.create_producer(ProducerConfig(client_id="second", transactional_id=txn))
    await second.start()
    with pytest.raises(ProducerFencedError, match="another producer with this transactional id"):
        await first.commit_transaction()
    await first.stop()  # a fenced producer stops without raising
    await second.stop()
    await plain.stop()
