"""The whole app on Kafka: an agent's filter -> map over produced events, a bounded run,
and the group's committed offsets at the end of every partition."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from rxstreams import App, Stream
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ConsumerConfig
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.conftest import MakeConsumer
from tests.adapters.rxstreams_kafka.helpers import RecordingListener, consume, wait_assigned

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[3]


async def test_an_app_runs_until_idle_on_kafka_and_commits_everything(
    kafka_url: str,
    transport: KafkaTransport,
    producer: KafkaProducer,
    names: Callable[[str], str],
) -> None:
    """Every event is processed once; the run ends by itself; commits reach the highwater."""
    source, sink, app_id = names("orders"), names("big-orders"), names("app")
    await transport.create_topics([TopicSpec(source, 2)])
    sent = [
        await producer.send(source, orjson.dumps(i), key=orjson.dumps(f"k{i % 10}"))
        for i in range(200)
    ]
    await asyncio.gather(*sent)

    app = App(app_id, broker=kafka_url, topic_partitions=2, session_timeout=3, fetch_timeout=0.1)
    seen: list[int] = []

    @app.agent(app.topic(source))
    async def big_orders(stream: Stream[int]) -> None:
        async for value in stream.filter(lambda n: n % 2 == 0).map(lambda n: n * 10):
            seen.append(value)
            await app.topic(sink).send(value=value)

    await app.run(until_idle=True, timeout=60)

    assert app.state == "stopped"
    assert sorted(seen) == [n * 10 for n in range(0, 200, 2)]
    # the group's committed offsets are the end of each partition
    checker = transport.create_consumer(
        [source],
        RecordingListener("checker", []),
        ConsumerConfig(app_id, "checker", session_timeout=2, fetch_max_wait=0.05),
    )
    await checker.start()
    await wait_assigned(checker, partitions=2)
    tps = [TopicPartition(source, p) for p in range(2)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while any(checker.highwater(tp) is None for tp in tps) and loop.time() < deadline:
        assert await checker.getmany(timeout=0.2) == {}  # nothing left to read
    ends = {tp: checker.highwater(tp) for tp in tps}
    assert sum(e or 0 for e in ends.values()) == 200
    assert {tp: await checker.committed(tp) for tp in tps} == ends
    # and what the agent produced is on the sink topic
    assert await transport.partition_count(sink) == 2


SENDER = """
import asyncio, sys
from rxstreams import App

async def main() -> None:
    app = App(sys.argv[2], broker=sys.argv[1], topic_partitions=1, producer_linger=1.0)
    for i in range(200):
        await app.topic(sys.argv[3]).send(value=i)
    await app.stop()

asyncio.run(main())
"""


async def test_a_script_that_only_sends_delivers_every_record(
    kafka_url: str, make_consumer: MakeConsumer, names: Callable[[str], str]
) -> None:
    """A script sends 200 records from an app it never starts, calls stop() and exits at
    once: all 200 are on the broker (a long linger keeps them in the producer's buffer, so
    only the flush on stop sends them)."""
    topic, app_id = names("only-sent"), names("sender")
    script = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SENDER, kafka_url, app_id, topic, cwd=ROOT
    )
    assert await asyncio.wait_for(script.wait(), 60) == 0

    checker, _ = await make_consumer("checker", [topic], group_id=names("checker"))
    got = await consume(checker, 200)
    values = [orjson.loads(m.value) for m in got.get(TopicPartition(topic, 0), []) if m.value]
    assert values == list(range(200))


async def test_hooks_and_partition_signals_on_kafka(
    kafka_url: str,
    transport: KafkaTransport,
    producer: KafkaProducer,
    names: Callable[[str], str],
) -> None:
    """On Kafka's group protocol the partition signals get the partitions of the group's
    assignment, before their events are processed and before their final commit; the
    on_started hook runs before any event, on_stopped last."""
    source, app_id = names("hooked"), names("app")
    await transport.create_topics([TopicSpec(source, 2)])
    await asyncio.gather(*[await producer.send(source, orjson.dumps(i)) for i in range(10)])
    app = App(app_id, broker=kafka_url, topic_partitions=2, session_timeout=3, fetch_timeout=0.1)
    calls: list[object] = []

    @app.agent(app.topic(source))
    async def count(stream: Stream[int]) -> None:
        async for value in stream:
            calls.append(("value", value))

    @app.on_started
    async def started() -> None:
        calls.append("started")

    @app.on_partitions_assigned.connect
    async def assigned(sender: App, partitions: set[TopicPartition], **kwargs: object) -> None:
        calls.append(("assigned", sorted(tp.partition for tp in partitions)))

    @app.on_partitions_revoked.connect
    async def revoked(sender: App, partitions: set[TopicPartition], **kwargs: object) -> None:
        calls.append(("revoked", sorted(tp.partition for tp in partitions)))

    @app.on_stopped
    async def stopped() -> None:
        calls.append("stopped")

    await app.run(until_idle=True, timeout=60)
    values = [c for c in calls if isinstance(c, tuple) and c[0] == "value"]
    assert sorted(v for _, v in values) == list(range(10))
    # the group may assign while the worker starts: only the order around events is fixed
    assert calls.index("started") < calls.index(values[0])
    assert calls.index(("assigned", [0, 1])) < calls.index(values[0])
    assert calls[-2:] == [("revoked", [0, 1]), "stopped"]
