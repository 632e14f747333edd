"""The whole app on Kafka: an agent's filter -> map over produced events, a bounded run,
and the group's committed offsets at the end of every partition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest

from rxstreams import App, Stream
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ConsumerConfig
from rxstreams_kafka import KafkaProducer, KafkaTransport
from tests.adapters.rxstreams_kafka.helpers import RecordingListener, wait_assigned

pytestmark = pytest.mark.kafka


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


async def test_a_script_that_only_sends_delivers_every_record(
    kafka_url: str, transport: KafkaTransport, names: Callable[[str], str]
) -> None:
    """Sending from an app that was never started, then stop(): all 200 records arrive."""
    topic, app_id = names("only-sent"), names("sender")
    # a long linger keeps records in the producer's buffer: only a flush on stop sends them
    app = App(app_id, broker=kafka_url, topic_partitions=1, producer_linger=1.0)
    for i in range(200):
        await app.topic(topic).send(value=i)
    await app.stop()
    assert app.state == "stopped"

    checker = transport.create_consumer(
        [topic],
        RecordingListener("checker", []),
        ConsumerConfig(names("checker"), "checker", session_timeout=2, fetch_max_wait=0.05),
    )
    await checker.start()
    await wait_assigned(checker, partitions=1)
    got: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(got) < 200 and loop.time() < deadline:
        for messages in (await checker.getmany(timeout=0.2)).values():
            got.extend(orjson.loads(m.value) for m in messages if m.value is not None)
    assert got == list(range(200))
