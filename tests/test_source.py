"""Topic sources: fan-out with one ack reference per stream, flow control, bad bytes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from rxstreams import AgentError, CodecError, Record, Stream, TopicPartition
from rxstreams.records import field
from rxstreams.testing import in_flight
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_every_stream_gets_every_event_and_acks_wait_for_all(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Two agents on one topic both see each event; its offset is committed only after
    the slower agent is done with it."""
    fill(broker, "t", range(10))
    app = make_app("multi", commit_every=1)
    fast: list[int] = []
    slow: list[int] = []
    gate = asyncio.Event()

    @app.agent(app.topic("t"), name="fast")
    async def fast_agent(stream: Stream[int]) -> None:
        async for v in stream:
            fast.append(v)

    @app.agent(app.topic("t"), name="slow")
    async def slow_agent(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 4:
                await gate.wait()
            slow.append(v)

    async with app:
        while len(fast) < 10:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1)
        assert committed(broker, "multi", "t") == 4  # the slow agent is still on offset 4
        gate.set()
        while committed(broker, "multi", "t") != 10:
            await asyncio.sleep(0.01)
    assert fast == slow == list(range(10))


async def test_a_slow_agent_pauses_fetching_instead_of_buffering(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """In-flight events never exceed stream_buffer_maxsize + one fetch (the bound)."""
    fill(broker, "t", range(5_000))
    maxsize, fetch = 100, 50
    app = make_app("flow", stream_buffer_maxsize=maxsize, max_poll_records=fetch)
    peak = 0
    n = 0

    @app.agent(app.topic("t"))
    async def slow(stream: Stream[int]) -> None:
        nonlocal peak, n
        async for _ in stream:
            peak = max(peak, in_flight(app, "t"))
            n += 1
            await asyncio.sleep(0.001)

    await app.run(until_idle=True, timeout=600)
    assert n == 5_000
    assert peak <= maxsize + fetch
    assert committed(broker, "flow", "t") == 5_000


async def test_undecodable_message_stops_the_app_and_keeps_its_offset(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Bytes that are not JSON: a clear error naming topic, partition and offset; the
    offset of the bad message is not committed (the messages before it are)."""
    fill(broker, "t", [1, 2])
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="x"))
    producer.send_soon("t", b"{not json")
    fill(broker, "t", [4])
    app = make_app("bad")
    seen: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    with pytest.raises(CodecError, match=r"t\[0\]@2") as info:
        await app.run(timeout=30)
    assert not isinstance(info.value, AgentError)
    assert seen == [1, 2]
    assert committed(broker, "bad", "t") == 2


def _bad_and_good(broker: MemoryBroker, topic: str) -> None:
    """Offsets 0, 2, 4 decode; 1 is not JSON, 3 is truncated JSON."""
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="x"))
    broker.create_topic(topic, 1)
    for raw in (b"1", b"\xff\xfe", b"2", b'{"a": ', b"3"):
        producer.send_soon(topic, raw, headers=(("h", b"v"),))


async def test_skip_policy_acks_bad_records_and_goes_on(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """on_decode_error='skip': bad records are acked (logged), the rest processed."""
    _bad_and_good(broker, "t")
    app = make_app("skip")
    seen: list[int] = []

    @app.agent(app.topic("t", on_decode_error="skip"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    with capture_logs() as logs:
        await app.run(until_idle=True, timeout=30)
    assert seen == [1, 2, 3]
    assert committed(broker, "skip", "t") == 5
    skipped = [e["offset"] for e in logs if e["event"] == "message_skipped"]
    assert skipped == [1, 3]


async def test_dead_letter_policy_sends_bytes_headers_and_error(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """on_decode_error='dead_letter': the original bytes and headers plus the error go to
    `<topic>-dlq`, then the record is acked."""
    _bad_and_good(broker, "t")
    app = make_app("dlq", on_decode_error="dead_letter")
    seen: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    await app.run(until_idle=True, timeout=30)
    assert seen == [1, 2, 3]
    assert committed(broker, "dlq", "t") == 5
    dead = broker.records(TopicPartition("t-dlq", 0))
    assert [m.value for m in dead] == [b"\xff\xfe", b'{"a": ']
    first = dict(dead[0].headers)
    assert first["h"] == b"v"
    assert first["rxs-origin"] == b"t[0]@1"
    assert b"not valid JSON" in first["rxs-error"]


async def test_random_bytes_to_a_record_topic_end_as_the_policy_says(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Fuzz: random bytes, truncated JSON and valid orders on a Record topic. Every record
    ends processed or dead-lettered, and the committed offset is the end of the topic."""
    rng = random.Random(1234)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="x"))
    broker.create_topic("orders", 1)
    valid: list[int] = []
    for i in range(300):
        good = orjson.dumps({"id": i, "amount": i * 2})
        kind = rng.randrange(3)
        if kind == 0:
            producer.send_soon("orders", good)
            valid.append(i)
        elif kind == 1:
            producer.send_soon("orders", good[: rng.randrange(1, len(good) - 1)])
        else:
            producer.send_soon("orders", rng.randbytes(rng.randrange(0, 20)))
    app = make_app("fuzz")
    got: list[int] = []

    @app.agent(app.topic("orders", value_type=FuzzOrder, on_decode_error="dead_letter"))
    async def read(stream: Stream[FuzzOrder]) -> None:
        async for order in stream:
            got.append(order.id)

    await app.run(until_idle=True, timeout=60)
    dead = broker.records(TopicPartition("orders-dlq", 0))
    assert got == valid
    assert len(got) + len(dead) == 300
    assert committed(broker, "fuzz", "orders") == 300


class FuzzOrder(Record):
    id: int
    amount: int


class _BrokenCodec:
    """A codec with a bug (not bad data): loads raises TypeError on every record."""

    def dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def loads(self, data: bytes) -> Any:
        return orjson.loads(data)["n"] + "!"  # int + str: TypeError, whatever the record


async def test_a_schema_fault_is_never_skipped_as_bad_data(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """on_decode_error='skip' applies to records that are bad (CodecError, ValueError),
    not to a fault of the schema or codec: the app stops with a CodecError and the offset
    of the first valid record is not committed. Today's code skipped every record and
    committed past them all (silent loss)."""
    fill(broker, "t", [{"n": 1}, {"n": 2}])
    app = make_app("schema-fault")
    seen: list[Any] = []

    @app.agent(app.topic("t", value_serializer=_BrokenCodec(), on_decode_error="skip"))
    async def read(stream: Stream[Any]) -> None:
        async for v in stream:
            seen.append(v)

    with pytest.raises(CodecError, match=r"t\[0\]@0: TypeError.*fault of the topic's schema"):
        await app.run(until_idle=True, timeout=30)
    assert seen == []
    assert committed(broker, "schema-fault", "t") in (None, 0)


def _buggy_check(value: int) -> None:
    """A field validator with a bug: it fails on every value, whatever the record."""
    raise AttributeError("'int' object has no attribute 'within'")


class CheckedOrder(Record, validation=False):
    id: int = field(validate=_buggy_check)


@pytest.mark.looptime
async def test_a_record_schema_fault_is_not_skipped_and_nothing_is_committed(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A Record whose field validator has a bug, on a topic with on_decode_error='skip':
    the valid records are not skipped as bad data; the app stops with a CodecError naming
    the fault, and the offset of the first valid record (0) is not committed past, so a
    fixed version of the app reads every record."""
    fill(broker, "orders", [{"id": 1}, {"id": 2}])
    app = make_app("record-fault")
    seen: list[Any] = []

    @app.agent(app.topic("orders", value_type=CheckedOrder, on_decode_error="skip"))
    async def read(stream: Stream[CheckedOrder]) -> None:
        async for order in stream:
            seen.append(order)

    with pytest.raises(CodecError, match=r"orders\[0\]@0: AttributeError.*fault of the topic"):
        await app.run(until_idle=True, timeout=30)
    assert seen == []
    assert committed(broker, "record-fault", "orders") in (None, 0)
