"""Agent throughput on the embedded broker, against a plain Python loop doing the same work.

1,000,000 JSON events (100 keys) are pre-produced to one topic; an agent runs
filter (keeps 50 %) -> map -> keyed count over them, and the app commits. Timed from the
app's start to the commit of the last offset. The plain loops do the same work over the
same stored records in the same run: once decoding the JSON as the agent must, once over
values decoded beforehand (the pure filter/map/count cost).

The embedded broker's stored records live in this process; they are moved out of the
garbage collector's way (gc.freeze) after producing, as they would not be in the heap of a
worker reading from Kafka. `--no-freeze` measures without that.

Run: python benchmarks/bench_memory_agent.py [N] [--no-freeze]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

import orjson

from rxstreams import App, Stream, TopicPartition
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport

N = int(next((a for a in sys.argv[1:] if a.isdigit()), 1_000_000))
KEYS = 100


def produce(broker: MemoryBroker) -> None:
    broker.create_topic("events", 1)
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="bench"))
    gc.disable()
    try:
        for i in range(N):
            producer.send_soon("events", b'{"user":"u%d","n":%d}' % (i % KEYS, i))
    finally:
        gc.enable()


def plain_loop(records: list[Any], decode: bool) -> tuple[float, Counter[str]]:
    values = [orjson.loads(m.value) for m in records] if not decode else None
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    if decode:
        for m in records:
            v = orjson.loads(m.value)
            if v["n"] % 2 == 0:
                counts[v["user"].upper()] += 1
    else:
        assert values is not None
        for v in values:
            if v["n"] % 2 == 0:
                counts[v["user"].upper()] += 1
    return time.perf_counter() - t0, counts


async def run_agent(broker: MemoryBroker, group: str = "bench") -> tuple[float, Counter[str]]:
    app = App(
        group,
        transport=MemoryTransport(broker=broker),
        topic_partitions=1,
        commit_interval=0.5,
    )
    counts: Counter[str] = Counter()
    tp = TopicPartition("events", 0)

    @app.agent(app.topic("events"))
    async def count(stream: Stream[dict[str, Any]]) -> None:
        async for user in stream.filter(lambda v: v["n"] % 2 == 0).map(lambda v: v["user"].upper()):
            counts[user] += 1

    t0 = time.perf_counter()
    await app.start()
    offsets = app.worker.offsets
    while offsets.get(tp) is None or offsets[tp].committable != N:
        await asyncio.sleep(0.01)
    await app.worker.committer.commit()
    elapsed = time.perf_counter() - t0
    assert broker.committed(group, tp) == N
    await app.stop()
    return elapsed, counts


def main() -> None:
    broker = MemoryBroker()
    t0 = time.perf_counter()
    produce(broker)
    print(f"produced {N:,} records in {time.perf_counter() - t0:.2f}s")
    if "--no-freeze" not in sys.argv:
        gc.freeze()  # the embedded broker's stored records are not the pipeline's heap
    records = broker.records(TopicPartition("events", 0))
    plain_decode_s, expected = plain_loop(records, decode=True)
    plain_s, _ = plain_loop(records, decode=False)
    agent_s, counts = asyncio.run(run_agent(broker))
    assert counts == expected, "the agent counted differently from the plain loop"
    # a second run of the same work under tracemalloc, for the memory the app allocates
    # (slower, so it is not the timed one); the broker's stored records are not counted
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    asyncio.run(run_agent(broker, group="bench-mem"))
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    rate = N / agent_s
    print(f"plain loop, values decoded beforehand: {N / plain_s:>12,.0f} events/s")
    print(f"plain loop, decoding JSON:             {N / plain_decode_s:>12,.0f} events/s")
    print(f"rxstreams agent (start -> last commit): {rate:>11,.0f} events/s")
    print(f"ratio agent / plain loop (decoded):     {plain_s / agent_s:>11.3f}")
    print(f"ratio agent / plain loop (decoding):    {plain_decode_s / agent_s:>11.3f}")
    print(f"peak memory allocated by the app run:   {peak / 2**20:>9.1f} MiB")
    print(f"target >= 500,000 events/s: {'met' if rate >= 500_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
