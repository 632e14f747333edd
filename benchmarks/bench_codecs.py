"""Decode cost per message, and the agent benchmark's end-to-end rate, per codec.

Codecs: a 6-field Record (validated through marshmallow), the same Record built without
validation (``Record.codec(validate=False)``), plain JSON (orjson, no schema), raw bytes.
The agent does filter (50 %) -> map -> keyed count over 100 keys, committed, on the
embedded broker (as benchmarks/bench_memory_agent.py); with raw bytes it does the same
work on the bytes (parity of the last digit, the user field sliced out).

Run: python benchmarks/bench_codecs.py [N]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rxstreams import App, Record, Stream, TopicPartition
from rxstreams.codecs import get_codec
from rxstreams.types import CodecT, ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport

N = int(next((a for a in sys.argv[1:] if a.isdigit()), 300_000))


class Sale(Record):
    user: str
    n: int
    amount: float
    at: datetime
    tags: list[str]
    paid: bool


def payload(i: int) -> bytes:
    return (
        b'{"user":"u%d","amount":%d.5,"at":"2026-11-29T12:00:00","tags":["a","b"],'
        b'"paid":true,"n":%d}' % (i % 100, i, i)
    )


def decode_cost(codec: CodecT, records: list[bytes]) -> float:
    t0 = time.perf_counter()
    for r in records:
        codec.loads(r)
    return (time.perf_counter() - t0) / len(records) * 1e6


Work = tuple[Callable[[Any], bool], Callable[[Any], Any]]

WORK: dict[str, Work] = {
    "record": (lambda s: s.n % 2 == 0, lambda s: s.user.upper()),
    "json": (lambda v: v["n"] % 2 == 0, lambda v: v["user"].upper()),
    "raw": (lambda b: b[-2] in b"02468", lambda b: b[9 : b.index(b'"', 9)].upper()),
}


async def run_agent(broker: MemoryBroker, group: str, codec: CodecT, work: Work) -> float:
    app = App(group, transport=MemoryTransport(broker=broker), topic_partitions=1)
    counts: Counter[Any] = Counter()
    keep, pick = work
    tp = TopicPartition("sales", 0)

    @app.agent(app.topic("sales", value_serializer=codec))
    async def count(stream: Stream[Any]) -> None:
        async for user in stream.filter(keep).map(pick):
            counts[user] += 1

    t0 = time.perf_counter()
    await app.start()
    offsets = app.worker.offsets
    while offsets.get(tp) is None or offsets[tp].committable != N:
        await asyncio.sleep(0.01)
    await app.worker.committer.commit()
    elapsed = time.perf_counter() - t0
    await app.stop()
    assert sum(counts.values()) == N // 2 + N % 2
    return elapsed


def main() -> None:
    broker = MemoryBroker()
    broker.create_topic("sales", 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="b"))
    for i in range(N):
        producer.send_soon("sales", payload(i))
    gc.freeze()
    sample = [payload(i) for i in range(50_000)]
    codecs: list[tuple[str, CodecT, str]] = [
        ("Record (validated)", Sale.codec(), "record"),
        ("Record (validate=False)", Sale.codec(validate=False), "record"),
        ("JSON (orjson, no schema)", get_codec("json"), "json"),
        ("raw bytes", get_codec("raw"), "raw"),
    ]
    print(f"{'codec':<26}{'decode µs/msg':>15}{'agent events/s':>17}")
    for i, (name, codec, work) in enumerate(codecs):
        cost = decode_cost(codec, sample)
        elapsed = asyncio.run(run_agent(broker, f"bench-{i}", codec, WORK[work]))
        print(f"{name:<26}{cost:>15.2f}{N / elapsed:>17,.0f}")


if __name__ == "__main__":
    main()
