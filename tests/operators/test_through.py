"""through: send every event to a topic or channel and continue from there."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from rxstreams import CodecError, ConfigurationError, Record, Stream, TopicPartition
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_values_go_through_the_topic_and_both_topics_are_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Each value reaches the agent through the intermediate topic; the input topic and the
    intermediate topic are both committed to the end."""
    fill(broker, "in", range(10))
    app = make_app("thru")
    got: list[int] = []

    @app.agent(app.topic("in"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.map(lambda v: v * 2).through("mid"):
            got.append(v)

    await app.run(until_idle=True, timeout=30)
    assert got == [v * 2 for v in range(10)]
    assert [orjson.loads(m.value) for m in broker.records(TopicPartition("mid", 0))] == got
    assert committed(broker, "thru", "in") == 10
    assert committed(broker, "thru", "mid") == 10


async def test_key_headers_and_timestamp_are_sent(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The record sent to the intermediate topic keeps the event's key, headers and time."""
    broker.create_topic("in", 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="x"))
    producer.send_soon("in", b"1", key=b'"k"', timestamp_ms=1_000_000, headers=[("h", b"v")])
    app = make_app("meta")
    seen: list[tuple[object, object, dict[str, object], float]] = []
    mid = app.topic("mid")

    @app.agent(app.topic("in"))
    async def read(stream: Stream[int]) -> None:
        async for event in stream.through(mid).events():
            seen.append((event.key, event.value, event.headers, event.timestamp))

    await app.run(until_idle=True, timeout=30)
    assert seen == [("k", 1, {"h": "v"}, 1000.0)]


async def test_the_input_is_committed_only_once_the_send_is_queued(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A stuck reader of the intermediate topic does not hold the input's commit (its
    events were sent), but holds the intermediate topic's."""
    fill(broker, "in", range(5))
    app = make_app("queued", commit_every=1)
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(app.topic("in"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.through("mid"):
            await gate.wait()
            got.append(v)

    async with app:
        while committed(broker, "queued", "in") != 5:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "queued", "mid") is None
        gate.set()
        while committed(broker, "queued", "mid") != 5:
            await asyncio.sleep(0.01)
    assert got == list(range(5))


async def test_through_a_channel_commits_after_the_channel_reader(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Through a channel the event itself moves on: the input offset is committed only
    once the reader of the channel processed it."""
    fill(broker, "in", range(5))
    app = make_app("thru-ch", commit_every=1)
    channel = app.channel()
    gate = asyncio.Event()
    got: list[int] = []

    @app.agent(app.topic("in"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream.through(channel):
            if v == 2:
                await gate.wait()
            got.append(v)

    async with app:
        while len(got) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "thru-ch", "in") == 2
        gate.set()
        while committed(broker, "thru-ch", "in") != 5:
            await asyncio.sleep(0.01)
    assert got == list(range(5))


async def test_forwarding_starts_once_and_only_when_iterated(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Two streams derived from one through stream do not send twice; a through stream
    nobody iterates sends nothing."""
    fill(broker, "in", range(3))
    app = make_app("once")
    a: list[int] = []
    b: list[int] = []
    through = app.topic("in").stream().through("mid")
    app.topic("in").stream().through("unused")

    @app.agent(app.channel(), name="a")
    async def first(_: Stream[int]) -> None:
        async for v in through.filter(lambda v: True):
            a.append(v)

    @app.agent(app.channel(), name="b")
    async def second(_: Stream[int]) -> None:
        async for v in through.map(lambda v: v):
            b.append(v)

    await app.run(until_idle=True, timeout=30)
    assert a == b == [0, 1, 2]
    assert len(broker.records(TopicPartition("mid", 0))) == 3
    assert broker.records(TopicPartition("unused", 0)) == []


async def test_a_failed_send_stops_the_app_without_committing_the_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A value the intermediate topic cannot serialize stops the app; the offset of the
    event is not committed (the ones before it are)."""
    fill(broker, "in", range(5))
    app = make_app("badsend")

    @app.agent(app.topic("in"))
    async def read(stream: Stream[int]) -> None:
        async for _ in stream.map(lambda v: object() if v == 3 else v).through("mid"):
            pass

    with pytest.raises(CodecError, match="cannot encode object"):
        await app.run(timeout=30)
    assert committed(broker, "badsend", "in") == 3


async def test_an_unknown_target_is_refused(make_app: AppFactory) -> None:
    """through() of something that is neither a topic nor a channel raises at once."""
    app = make_app("refuse")
    with pytest.raises(ConfigurationError, match="cannot forward to 42"):
        app.topic("in").stream().through(42)


class _Order(Record):
    id: int
    sku: str


async def test_a_topic_name_keeps_the_source_topics_types(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """through("name") on a Record topic, the name not declared: the values come back as
    Records (before, the topic was declared untyped JSON and the loop got dicts), keys as
    they were sent, and the topic holds the Records' JSON; a value a map() made into a str
    comes back a str. Both topics are committed to their ends."""
    app = make_app("typed-thru")
    orders = app.topic("orders", key_type=int, value_type=_Order)
    for i in range(3):
        await orders.send(key=i, value=_Order(id=i, sku=f"s{i}"))
    got: list[tuple[Any, Any]] = []
    skus: list[Any] = []

    @app.agent(orders)
    async def copy(stream: Stream[_Order]) -> None:
        async for key, order in stream.through("orders-copy").items():
            got.append((key, order))

    @app.agent(orders)
    async def sku(stream: Stream[_Order]) -> None:
        async for s in stream.map(lambda o: o.sku).through("skus"):
            skus.append(s)

    await app.run(until_idle=True, timeout=30)
    assert got == [(i, _Order(id=i, sku=f"s{i}")) for i in range(3)]
    assert skus == ["s0", "s1", "s2"]
    copied = broker.records(TopicPartition("orders-copy", 0))
    assert [(m.key, _Order.loads(m.value)) for m in copied] == [
        (str(i).encode(), _Order(id=i, sku=f"s{i}")) for i in range(3)
    ]
    for topic in ("orders", "orders-copy", "skus"):
        assert committed(broker, "typed-thru", topic) == 3
