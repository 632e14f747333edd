"""Records that do not decode, the same on every broker: each on_decode_error policy,
with the committed offsets and the dead-letter topic's contents."""

from __future__ import annotations

import asyncio

import pytest

from rxstreams import CodecError, Stream
from rxstreams.messages import RecordMetadata
from rxstreams.types import ProducerConfig
from tests.contract.conftest import Cluster

#: offsets 0, 2 and 4 decode as JSON; 1 is not UTF-8 JSON, 3 is truncated JSON
RAW = (b"1", b"\xff\xfe", b"2", b'{"a": ', b"3")


async def produce_raw(cluster: Cluster, topic: str) -> list[RecordMetadata]:
    await cluster.create_topic(topic, 1)
    producer = cluster._transport.create_producer(ProducerConfig(client_id="bad-input"))
    await producer.start()
    try:
        futures = [await producer.send(topic, raw, headers=[("h", b"v")]) for raw in RAW]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


@pytest.mark.parametrize("policy", ["skip", "dead_letter"])
async def test_bad_records_are_skipped_or_dead_lettered_and_committed(
    cluster: Cluster, policy: str
) -> None:
    """The good records are processed; every offset is committed; with dead_letter the
    bad records' original bytes and headers plus the error are on `<topic>-dlq`."""
    source, group = cluster.name("in"), cluster.name("app")
    sent = await produce_raw(cluster, source)
    app = cluster.app(group, topic_partitions=1)
    seen: list[int] = []

    @app.agent(app.topic(source, on_decode_error=policy))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    async with app:
        await cluster.wait_committed(group, source, cluster.ends(sent, 1))
    assert seen == [1, 2, 3]
    if policy == "dead_letter":
        dead = await cluster.records(f"{source}-dlq", 1)
        assert [m.value for m in dead] == [b"\xff\xfe", b'{"a": ']
        headers = dict(dead[0].headers)
        assert headers["h"] == b"v"
        assert headers["rxs-origin"] == f"{source}[0]@1".encode()
        assert b"not valid JSON" in headers["rxs-error"]


async def test_raise_policy_stops_before_the_bad_record(cluster: Cluster) -> None:
    """The default: the app stops with a CodecError naming the record; the committed
    offset is the bad record's, so it is read again after a fix."""
    source, group = cluster.name("in"), cluster.name("app")
    await produce_raw(cluster, source)
    app = cluster.app(group, topic_partitions=1)
    seen: list[int] = []

    @app.agent(app.topic(source))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    with pytest.raises(CodecError, match=rf"{source}\[0\]@1"):
        await app.run(timeout=30)
    assert seen == [1]
    assert await cluster.committed(group, source, 1) == {0: 1}
