"""rxstreams on Kafka against raw aiokafka doing the same work, on an Apache Kafka it starts.

Throughput: 200,000 JSON messages (~100 bytes, 100 keys, 4 partitions) are produced, then
consumed in the same run, each time by a group of its own, in two workloads:

- *count*: filter keeps 50 % -> map -> count and sum per key; no output;
- *copy*: every message is transformed (a field added) and sent on to an output topic
  under its key: a consume-transform-produce pipeline, where exactly-once matters.

Each workload runs as an rxstreams agent at least once and exactly once
(``processing_guarantee``), and as a raw aiokafka ``getmany`` loop doing the same work with
manual commits (copy: also a raw transactional loop: ``begin_transaction``, sends,
``send_offsets_to_transaction``, ``commit_transaction``). All commit every 10,000 messages
and once at the end, use the same fetch settings (1,000 records per getmany,
``fetch_max_wait`` 50 ms), and are timed from the first message received to the commit
of the last offset (joining the group is not timed). Each round runs them all; the best
round of each is compared.

Request/reply: ``ask()`` round trips (an agent yields the reply) against a raw aiokafka
loop (a request topic, an echo consumer + producer, a reply consumer matching
correlation ids), both with ``fetch_max_wait`` 10 ms on every consumer; 2,000 sequential
calls each, after a warm-up; p50 and p99.

The broker is Apache Kafka (a single KRaft node with a fresh log directory), started the
way the tests start it (:class:`tests.brokers.kafka.KafkaBroker`); nothing else must run.

Run: python benchmarks/bench_kafka.py [N] [--asks M] [--rounds R] [--skip-ask]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from rxstreams import App, Stream
from rxstreams.logging import configure
from rxstreams.messages import TopicSpec
from rxstreams_kafka import KafkaTransport

ROOT = Path(__file__).resolve().parent.parent

KEYS = 100
PARTS = 4
COMMIT_EVERY = 10_000
MAX_RECORDS = 1000  # rxstreams' max_poll_records default; the raw loop asks the same
SESSION_TIMEOUT = 3.0
#: the consumers' fetch_max_wait in the throughput runs (a consumer at the tail of one
#: partition waits this long for it when the others have nothing either)
FETCH_MAX_WAIT = 0.05
PAD = "x" * 67  # brings a value to ~100 bytes


def value_of(i: int) -> bytes:
    return orjson.dumps({"user": f"u{i % KEYS}", "n": i, "pad": PAD})


# -- producing ----------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, n: int) -> dict[int, int]:
    """Produce ``n`` keyed JSON records; the end offset of every partition (from the send
    results)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks=1
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value_of(i), key=orjson.dumps(f"u{i % KEYS}"))
            for i in range(n)
        ]
        ends = dict.fromkeys(range(PARTS), 0)
        for md in await asyncio.gather(*futures):
            ends[md.partition] = max(ends[md.partition], md.offset + 1)
        return ends
    finally:
        await producer.stop()


def expected_counts(n: int) -> tuple[Counter[str], Counter[str]]:
    counts: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for i in range(0, n, 2):
        counts[f"u{i % KEYS}"] += 1
        totals[f"u{i % KEYS}"] += i // 2
    return counts, totals


# -- throughput: raw aiokafka -------------------------------------------------------------


def _raw_consumer(bootstrap: str, topic: str, **extra: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(SESSION_TIMEOUT * 1000),
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=round(FETCH_MAX_WAIT * 1000),
        max_poll_records=MAX_RECORDS,
        **extra,
    )


async def raw_consume(bootstrap: str, topic: str, ends: dict[int, int]) -> float:
    """The raw getmany loop counting; seconds from its first message to its last commit."""
    consumer = _raw_consumer(bootstrap, topic)
    await consumer.start()
    counts: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    loads = orjson.loads
    positions: dict[Any, int] = {}
    targets = {TopicPartition(topic, p): end for p, end in ends.items() if end}
    since_commit = 0
    first: float | None = None
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            if not batch:
                continue
            if first is None:
                first = time.perf_counter()
            for tp, messages in batch.items():
                for m in messages:
                    v = loads(m.value)
                    if v["n"] % 2 == 0:
                        amount = v["n"] // 2
                        key = loads(m.key)
                        counts[key] += 1
                        totals[key] += amount
                positions[tp] = messages[-1].offset + 1
                since_commit += len(messages)
            done = all(positions.get(tp) == end for tp, end in targets.items())
            if since_commit >= COMMIT_EVERY or done:
                await consumer.commit(dict(positions))
                since_commit = 0
            if done:
                elapsed = time.perf_counter() - first
                break
    finally:
        await consumer.stop()
    assert (counts, totals) == expected_counts(sum(ends.values())), "raw loop miscounted"
    return elapsed


async def raw_copy(
    bootstrap: str, topic: str, out: str, ends: dict[int, int], *, transactional: bool
) -> float:
    """The raw consume-transform-produce loop; seconds from its first message to its last
    commit. At least once: flush, then commit. Transactional: each commit is a
    transaction holding the sends and the offsets (aiokafka's documented pattern)."""
    consumer = _raw_consumer(
        bootstrap,
        topic,
        **({"isolation_level": "read_committed"} if transactional else {}),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=512 * 1024,
        enable_idempotence=True,
        **({"transactional_id": f"raw-{uuid.uuid4().hex}"} if transactional else {}),
    )
    await consumer.start()
    await producer.start()
    group_id = consumer._group_id  # the group the offsets are sent for
    loads, dumps = orjson.loads, orjson.dumps
    positions: dict[Any, int] = {}
    targets = {TopicPartition(topic, p): end for p, end in ends.items() if end}
    since_commit = 0
    copied = 0
    first: float | None = None
    try:
        if transactional:
            await producer.begin_transaction()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            if not batch:
                continue
            if first is None:
                first = time.perf_counter()
            for tp, messages in batch.items():
                for m in messages:
                    v = loads(m.value)
                    v["double"] = 2 * v["n"]
                    await producer.send(out, dumps(v), key=m.key)
                copied += len(messages)
                positions[tp] = messages[-1].offset + 1
                since_commit += len(messages)
            done = all(positions.get(tp) == end for tp, end in targets.items())
            if since_commit >= COMMIT_EVERY or done:
                if transactional:
                    await producer.send_offsets_to_transaction(dict(positions), group_id)
                    await producer.commit_transaction()
                    if not done:
                        await producer.begin_transaction()
                else:
                    await producer.flush()
                    await consumer.commit(dict(positions))
                since_commit = 0
            if done:
                elapsed = time.perf_counter() - first
                break
    finally:
        await producer.stop()
        await consumer.stop()
    assert copied == sum(ends.values()), "raw copy miscounted"
    return elapsed


# -- throughput: rxstreams ----------------------------------------------------------------


def _rx_app(url: str, guarantee: str) -> App:
    return App(
        f"rx-{uuid.uuid4().hex[:8]}",
        broker=url,
        topic_partitions=PARTS,
        session_timeout=SESSION_TIMEOUT,
        commit_every=COMMIT_EVERY,
        # like the raw loop: every 10,000 and at the end (exactly-once: an interval must
        # stay below the transaction timeout)
        commit_interval=3600 if guarantee == "at_least_once" else 30,
        transaction_timeout=60,
        max_poll_records=MAX_RECORDS,
        fetch_timeout=FETCH_MAX_WAIT,  # also its consumer's fetch_max_wait
        processing_guarantee=guarantee,  # type: ignore[arg-type]
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
    )


async def _until_committed(app: App, ends: dict[int, int], first: list[float]) -> float:
    """Seconds from the first message to the commit of every end offset (checked every
    2 ms: everything acked, then committed)."""
    worker = app.worker
    while True:
        offsets = worker.offsets
        if len(offsets) == PARTS and all(
            po.committable == ends[tp.partition] for tp, po in offsets.items()
        ):
            await worker.committer.commit()
            if all(po.committed == ends[tp.partition] for tp, po in offsets.items()):
                break
        await asyncio.sleep(0.002)
    return time.perf_counter() - first[0]


async def rx_consume(url: str, topic: str, ends: dict[int, int], guarantee: str) -> float:
    """The rxstreams agent counting; seconds from its first message to the last commit."""
    app = _rx_app(url, guarantee)
    counts: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    first: list[float] = []

    def keep(v: dict[str, Any]) -> bool:
        if not first:
            first.append(time.perf_counter())
        return v["n"] % 2 == 0  # type: ignore[no-any-return]

    @app.agent(app.topic(topic, partitions=PARTS), name="count")
    async def count(stream: Stream[dict[str, Any]]) -> None:
        async for key, amount in stream.filter(keep).map(lambda v: v["n"] // 2).items():
            counts[key] += 1
            totals[key] += amount

    await app.start()
    try:
        elapsed = await _until_committed(app, ends, first)
    finally:
        await app.stop()
    assert (counts, totals) == expected_counts(sum(ends.values())), "rxstreams miscounted"
    return elapsed


async def rx_copy(url: str, topic: str, out: str, ends: dict[int, int], guarantee: str) -> float:
    """The rxstreams agent copying (map adds a field, sent on under the same key)."""
    app = _rx_app(url, guarantee)
    target = app.topic(out, partitions=PARTS)
    first: list[float] = []
    copied = [0]

    def transform(v: dict[str, Any]) -> dict[str, Any]:
        if not first:
            first.append(time.perf_counter())
        v["double"] = 2 * v["n"]
        return v

    @app.agent(app.topic(topic, partitions=PARTS), name="copy")
    async def copy(stream: Stream[dict[str, Any]]) -> None:
        async for key, value in stream.map(transform).items():
            await target.send(key=key, value=value)
            copied[0] += 1

    await app.start()
    try:
        elapsed = await _until_committed(app, ends, first)
    finally:
        await app.stop()
    assert copied[0] == sum(ends.values()), "rxstreams miscopied"
    return elapsed


# -- request/reply ------------------------------------------------------------------------


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def rx_ask(url: str, asks: int, warmup: int) -> list[float]:
    """``ask()`` round trips of an agent that yields its reply (seconds each)."""
    app = App(
        f"ask-{uuid.uuid4().hex[:8]}",
        broker=url,
        topic_partitions=1,
        session_timeout=SESSION_TIMEOUT,
        fetch_timeout=0.01,  # the request consumer's fetch_max_wait (the reply one: 10 ms)
    )

    @app.agent(app.topic(f"echo-{uuid.uuid4().hex[:8]}", partitions=1), name="echo")
    async def echo(stream: Stream[int]) -> Any:
        async for value in stream:
            yield value

    samples: list[float] = []
    async with app:
        for i in range(warmup + asks):
            t0 = time.perf_counter()
            reply = await echo.ask(i, timeout=30)
            if i >= warmup:
                samples.append(time.perf_counter() - t0)
            assert reply == i
    return samples


async def raw_ask(bootstrap: str, asks: int, warmup: int) -> list[float]:
    """The raw loop: request topic -> echo consumer/producer -> reply topic -> reply
    consumer resolving a future by correlation id (seconds per round trip)."""
    run = uuid.uuid4().hex[:8]
    requests, replies = f"raw-req-{run}", f"raw-rep-{run}"
    transport = KafkaTransport(f"kafka://{bootstrap}")
    await transport.create_topics([TopicSpec(requests, 1), TopicSpec(replies, 1)])
    await transport.close()
    common = {
        "bootstrap_servers": bootstrap,
        "enable_auto_commit": False,
        "session_timeout_ms": int(SESSION_TIMEOUT * 1000),
        "heartbeat_interval_ms": 1000,
        "fetch_max_wait_ms": 10,
    }
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    serve = AIOKafkaConsumer(requests, group_id=f"echo-{run}", **common)
    listen = AIOKafkaConsumer(
        replies, group_id=f"reply-{run}", auto_offset_reset="latest", **common
    )
    await producer.start()
    await serve.start()
    await listen.start()
    waiting: dict[bytes, asyncio.Future[bytes]] = {}

    async def echo_loop() -> None:
        since_commit = 0
        while True:
            batch = await serve.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            for messages in batch.values():
                for m in messages:
                    headers = dict(m.headers)
                    await producer.send(replies, m.value, key=headers["cid"])
                since_commit += len(messages)
            if batch and since_commit >= 100:
                await producer.flush()
                await serve.commit()
                since_commit = 0

    async def reply_loop() -> None:
        while True:
            batch = await listen.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            for messages in batch.values():
                for m in messages:
                    fut = waiting.pop(m.key, None)
                    if fut is not None and not fut.done():
                        fut.set_result(m.value)

    tasks = [asyncio.ensure_future(echo_loop()), asyncio.ensure_future(reply_loop())]
    while not listen.assignment() or not serve.assignment():
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    try:
        for i in range(warmup + asks):
            cid = uuid.uuid4().hex.encode()
            fut: asyncio.Future[bytes] = loop.create_future()
            waiting[cid] = fut
            t0 = time.perf_counter()
            await producer.send(requests, orjson.dumps(i), headers=[("cid", cid)])
            reply = await asyncio.wait_for(fut, 30)
            if i >= warmup:
                samples.append(time.perf_counter() - t0)
            assert orjson.loads(reply) == i
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await listen.stop()
        await serve.stop()
        await producer.stop()
    return samples


# -- main ---------------------------------------------------------------------------------


async def bench(port: int, args: argparse.Namespace) -> None:
    bootstrap, url = f"127.0.0.1:{port}", f"kafka://127.0.0.1:{port}"
    topic = f"events-{uuid.uuid4().hex[:8]}"
    transport = KafkaTransport(url)
    await transport.create_topics([TopicSpec(topic, PARTS)])
    await transport.close()
    t0 = time.perf_counter()
    ends = await produce(bootstrap, topic, args.n)
    print(
        f"produced {args.n:,} records (~{len(value_of(args.n))} bytes) to {PARTS} partitions "
        f"in {time.perf_counter() - t0:.2f}s; ends {ends}"
    )
    out = f"copied-{uuid.uuid4().hex[:8]}"
    transport = KafkaTransport(url)
    await transport.create_topics([TopicSpec(out, PARTS)])
    await transport.close()
    runs: dict[str, Any] = {
        "count: raw aiokafka": lambda: raw_consume(bootstrap, topic, ends),
        "count: rxstreams at-least-once": lambda: rx_consume(url, topic, ends, "at_least_once"),
        "count: rxstreams exactly-once": lambda: rx_consume(url, topic, ends, "exactly_once"),
        "copy: raw aiokafka": lambda: raw_copy(bootstrap, topic, out, ends, transactional=False),
        "copy: raw aiokafka transactional": lambda: raw_copy(
            bootstrap, topic, out, ends, transactional=True
        ),
        "copy: rxstreams at-least-once": lambda: rx_copy(url, topic, out, ends, "at_least_once"),
        "copy: rxstreams exactly-once": lambda: rx_copy(url, topic, out, ends, "exactly_once"),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.rounds):
        line = []
        for name, run in runs.items():
            seconds = await run()
            rates[name].append(args.n / seconds)
            line.append(f"{name} {args.n / seconds:,.0f}")
        print(f"round {r + 1} (msg/s): " + "; ".join(line))
    best = {name: max(values) for name, values in rates.items()}
    print(f"best of {args.rounds} rounds, first message -> last commit:")
    for name, rate in best.items():
        print(f"  {name:<34} {rate:>10,.0f} msg/s")
    ratios = {
        "count: rxstreams at-least-once / raw aiokafka": (
            best["count: rxstreams at-least-once"] / best["count: raw aiokafka"]
        ),
        "count: rxstreams exactly-once / raw aiokafka": (
            best["count: rxstreams exactly-once"] / best["count: raw aiokafka"]
        ),
        "copy: rxstreams at-least-once / raw aiokafka": (
            best["copy: rxstreams at-least-once"] / best["copy: raw aiokafka"]
        ),
        "copy: rxstreams exactly-once / raw transactional": (
            best["copy: rxstreams exactly-once"] / best["copy: raw aiokafka transactional"]
        ),
        "copy: rxstreams exactly-once / at-least-once": (
            best["copy: rxstreams exactly-once"] / best["copy: rxstreams at-least-once"]
        ),
        "copy: raw transactional / raw at-least-once": (
            best["copy: raw aiokafka transactional"] / best["copy: raw aiokafka"]
        ),
    }
    for name, ratio in ratios.items():
        print(f"  ratio {name:<50} {ratio:.3f}")
    if args.skip_ask:
        return
    raw = await raw_ask(bootstrap, args.asks, args.warmup)
    rx = await rx_ask(url, args.asks, args.warmup)
    (raw50, raw99), (rx50, rx99) = percentiles(raw), percentiles(rx)
    print(
        f"raw aiokafka request/reply ({args.asks:,} calls): p50 {raw50 * 1000:6.2f} ms, "
        f"p99 {raw99 * 1000:6.2f} ms"
    )
    print(
        f"rxstreams ask()            ({args.asks:,} calls): p50 {rx50 * 1000:6.2f} ms, "
        f"p99 {rx99 * 1000:6.2f} ms"
    )
    print(f"ratio rxstreams / raw: p50 {rx50 / raw50:.3f}, p99 {rx99 / raw99:.3f}")
    met = rx50 / raw50 <= 1.3 and rx99 / raw99 <= 1.3
    print(f"target <= 1.3x: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--asks", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-ask", action="store_true")
    args = parser.parse_args()
    configure(level="WARNING")
    sys.path.insert(0, str(ROOT))  # the broker is started by the tests' own code
    from tests.brokers.kafka import KafkaBroker

    with tempfile.TemporaryDirectory() as tmp:
        broker = KafkaBroker(Path(tmp))
        broker.start()
        try:
            asyncio.run(bench(broker.port, args))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
