"""Producer durability on Apache Kafka (issue 11, point 4).

With the default settings (``producer_acks="all"``, idempotence on), Apache Kafka killed with
SIGKILL mid-stream and started again on the same log directory and port loses nothing that
was acked, and writes nothing twice; an app consuming through the restart carries on from
its committed offsets, which the restart kept.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from rxstreams import App, Stream
from rxstreams.messages import RecordMetadata, TopicPartition
from rxstreams.types import ConsumerConfig, ReaderConfig
from rxstreams_kafka import KafkaTransport
from tests.adapters.rxstreams_kafka.helpers import RecordingListener
from tests.brokers.kafka import KafkaBroker

pytestmark = pytest.mark.kafka

PARTS = 3
RECORDS = 3000
KEYS = 30


async def committed(transport: KafkaTransport, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets, asked by a consumer that does not join the group."""
    asker = transport.create_consumer(
        [], RecordingListener("asker", []), ConsumerConfig(group, "asker")
    )
    await asker.start()
    try:
        return {p: await asker.committed(TopicPartition(topic, p)) or 0 for p in range(PARTS)}
    finally:
        await asker.stop()


async def everything_on(transport: KafkaTransport, topic: str) -> list[tuple[int, int, bytes]]:
    """``(partition, offset, value)`` of every record on ``topic`` now."""
    reader = transport.create_reader(ReaderConfig("reader", fetch_max_wait=0.05))
    await reader.start()
    tps = [TopicPartition(topic, p) for p in range(PARTS)]
    await reader.assign(tps)
    got: list[tuple[int, int, bytes]] = []

    def done() -> bool:
        return all(
            (end := reader.highwater(tp)) is not None and (reader.position(tp) or 0) >= end
            for tp in tps
        )

    try:
        async with asyncio.timeout(20):
            while not done():
                for tp, messages in (await reader.getmany(timeout=0.2)).items():
                    got.extend((tp.partition, m.offset, m.value) for m in messages)
    finally:
        await reader.stop()
    return got


async def test_a_broker_killed_with_sigkill_and_restarted_loses_no_acked_record(
    kafka_broker: Callable[..., KafkaBroker], names: Callable[[str], str]
) -> None:
    """3,000 keyed records are sent through an app with the default producer settings
    while a second app consumes them; once half are acked, the broker is killed with
    SIGKILL (sends still going on) and started again on the same log directory and
    port. Every send is acked (the producer
    retries across the restart, within its request timeout), each acked record is on
    the topic exactly once (idempotence: no retried batch written twice), in per-key
    order; the consuming app carries on without crashing, processes every record, and
    what its group committed before the kill is still committed after the restart (no
    record committed then is processed again); in the end it commits the end of every
    partition."""
    broker = kafka_broker()
    await broker.start_async()
    topic, group = names("payments"), names("ledger")
    sender = App(names("teller"), broker=broker.url, topic_partitions=PARTS)
    ledger = App(
        group,
        broker=broker.url,
        topic_partitions=PARTS,
        session_timeout=2.0,
        fetch_timeout=0.05,
        commit_interval=0.2,
    )
    processed: list[tuple[int, int, int]] = []  # (partition, offset, value)

    @ledger.agent(ledger.topic(topic))
    async def book(stream: Stream[int]) -> None:
        async for event in stream.events():
            assert event.message is not None
            processed.append((event.message.partition, event.message.offset, event.value))

    transport = KafkaTransport(broker.url)
    acked: dict[int, RecordMetadata] = {}
    failed: dict[int, BaseException] = {}
    half_acked = asyncio.Event()

    async def settle(value: int, future: asyncio.Future[RecordMetadata]) -> None:
        try:
            acked[value] = await future
        except Exception as exc:  # a send the producer gave up on: reported below
            failed[value] = exc
        if len(acked) >= RECORDS // 2:
            half_acked.set()

    async def send_all() -> None:
        payments = sender.topic(topic)
        settling = []
        for value in range(RECORDS):
            future = await payments.send(key=f"acct-{value % KEYS}", value=value)
            settling.append(asyncio.ensure_future(settle(value, future)))
            if value % 50 == 49:
                await asyncio.sleep(0.025)  # about 1.5 s of sends: the kill comes midway
        await asyncio.gather(*settling)

    try:
        with capture_logs() as logs:
            async with ledger:
                sending = asyncio.ensure_future(send_all())
                async with asyncio.timeout(30):
                    await half_acked.wait()
                    while not processed:
                        await asyncio.sleep(0.05)
                before_kill = await committed(transport, group, topic)
                broker.kill()
                unacked_at_kill = RECORDS - len(acked)
                await asyncio.sleep(1.0)
                await broker.start_async()
                after_restart = await committed(transport, group, topic)
                async with asyncio.timeout(60):
                    await sending
                    while len({value for *_, value in processed}) < RECORDS:
                        assert ledger.state == "running"
                        await asyncio.sleep(0.05)
            await sender.stop()
        on_topic = await everything_on(transport, topic)
        final = await committed(transport, group, topic)
    finally:
        await sender.stop()
        await transport.close()

    # sends were still going when the broker died; nothing the producer acked is lost,
    # none of its sends failed, and nothing is written twice
    assert unacked_at_kill > 0
    assert failed == {}
    assert sorted(acked) == list(range(RECORDS))
    values = [int(value) for *_, value in on_topic]
    assert Counter(values).most_common(1)[0][1] == 1
    assert sorted(values) == list(range(RECORDS))
    landed = {(md.partition, md.offset) for md in acked.values()}
    assert landed == {(partition, offset) for partition, offset, _ in on_topic}
    for partition in range(PARTS):  # one key, one partition, in the order sent
        in_log = [int(v) for p, _, v in sorted(on_topic) if p == partition]
        for key in range(KEYS):
            of_key = [v for v in in_log if v % KEYS == key]
            assert of_key == sorted(of_key)

    # the consuming app rode the restart out: the committed offsets survived it, nothing
    # committed before the kill was processed again, and it committed the end in the end
    assert sum(before_kill.values()) > 0
    assert all(after_restart[p] >= before_kill[p] for p in range(PARTS))
    counts = Counter((p, o) for p, o, _ in processed)
    again = [(p, o) for (p, o), n in counts.items() if n > 1]
    assert all(o >= before_kill[p] for p, o in again)
    ends = {p: 1 + max(o for q, o, _ in on_topic if q == p) for p in range(PARTS)}
    assert final == ends
    assert [e for e in logs if e["event"] in ("app_crashed", "agent_error")] == []
    assert [e for e in logs if "idempotence" in e["event"]] == []


async def test_exactly_once_output_survives_a_broker_killed_mid_stream(
    kafka_broker: Callable[..., KafkaBroker], names: Callable[[str], str]
) -> None:
    """An exactly-once app copies 3,000 keyed records (already on the topic) to another
    topic while the broker is killed with SIGKILL and started again on the same log
    directory. The app rides the outage out (its transaction in flight is aborted or
    committed, never half of it), carries on, and commits the input to its end; the
    output read with read_committed holds every record exactly once, in per-key order."""
    broker = kafka_broker()
    await broker.start_async()
    source, target, group = names("in"), names("out"), names("copier")
    transport = KafkaTransport(broker.url)
    loader = App(names("loader"), broker=broker.url, topic_partitions=PARTS)
    async with loader:
        topic = loader.topic(source)
        for value in range(RECORDS):
            await topic.send(key=f"acct-{value % KEYS}", value=value)
    copier = App(
        group,
        broker=broker.url,
        topic_partitions=PARTS,
        session_timeout=6.0,
        fetch_timeout=0.05,
        commit_interval=0.2,
        processing_guarantee="exactly_once",
    )
    out = copier.topic(target)
    copied: list[int] = []

    @copier.agent(copier.topic(source))
    async def copy(stream: Stream[int]) -> None:
        async for key, value in stream.items():
            if value % 20 == 0:
                await asyncio.sleep(0.01)  # about 1.5 s of work: the kill comes midway
            await out.send(key=key, value=value)
            copied.append(value)

    try:
        with capture_logs() as logs:
            async with copier:
                async with asyncio.timeout(30):
                    while len(copied) < RECORDS // 3:
                        await asyncio.sleep(0.01)
                broker.kill()
                at_kill = len(copied)
                await asyncio.sleep(1.0)
                await broker.start_async()
                async with asyncio.timeout(90):
                    while sum((await committed(transport, group, source)).values()) < RECORDS:
                        assert copier.state == "running"
                        await asyncio.sleep(0.2)
        reader = transport.create_reader(
            ReaderConfig("check", fetch_max_wait=0.05, isolation_level="read_committed")
        )
        await reader.start()
        await reader.assign([TopicPartition(target, p) for p in range(PARTS)])
        output: list[int] = []
        quiet = 0
        async with asyncio.timeout(30):
            while len(output) < RECORDS or quiet < 5:
                batches = await reader.getmany(timeout=0.1)
                for messages in batches.values():
                    output.extend(int(m.value) for m in messages if m.value is not None)
                quiet = 0 if batches else quiet + 1
        await reader.stop()
    finally:
        await transport.close()

    assert at_kill < RECORDS  # killed mid-stream
    assert len(copied) >= RECORDS  # (work of a transaction aborted by the outage is redone)
    assert sorted(output) == list(range(RECORDS))  # the output shows once
    for key in range(KEYS):  # in per-key order
        of_key = [v for v in output if v % KEYS == key]
        assert of_key == sorted(of_key)
    assert [e for e in logs if e["event"] in ("app_crashed", "agent_error")] == []
