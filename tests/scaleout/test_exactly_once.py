"""Exactly-once with real processes on Apache Kafka: two ``rxstreams worker`` processes copy
and transform 50,000 keyed records from one topic to another; one is killed with SIGKILL
mid-stream and a new one started in its place. Read with ``read_committed``, the output
holds every record once (exactly-once), or every record at least once (at-least-once),
and each key's records in order."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ProducerConfig, ReaderConfig
from rxstreams_kafka import KafkaTransport
from tests.scaleout.processes import PARTS, ROOT, Worker, committed, start_worker, until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

APP = "tests.scaleout.copy_app:app"
KEYS = 100
PER_KEY = 500  # 50,000 records


async def produce(transport: KafkaTransport, topic: str) -> dict[int, int]:
    """Send seq 0..PER_KEY-1 for each key (in order per key); the end offset per partition."""
    producer = transport.create_producer(ProducerConfig(client_id="copy-test", linger=0.01))
    await producer.start()
    try:
        futures = [
            await producer.send(topic, orjson.dumps({"seq": seq}), key=orjson.dumps(f"k{key}"))
            for seq in range(PER_KEY)
            for key in range(KEYS)
        ]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    ends = dict.fromkeys(range(PARTS), 0)
    for md in sent:
        ends[md.partition] = max(ends[md.partition], md.offset + 1)
    return ends


async def read_committed(transport: KafkaTransport, topic: str, within: float) -> list[Any]:
    """Every committed record of ``topic`` as ``(key, value)``, in partition order: read
    with read_committed until each partition's position reaches the log's end as it is
    now (a killed worker's open transaction holds the readers back until the broker
    aborts it, at its transaction timeout; its marker then ends the log)."""
    parts = [TopicPartition(topic, p) for p in range(PARTS)]
    probe = transport.create_reader(ReaderConfig(client_id="copy-ends"))
    await probe.start()
    await probe.assign(parts)
    await probe.seek_to_end(parts)
    ends = {tp: probe.position(tp) or 0 for tp in parts}
    await probe.stop()
    reader = transport.create_reader(
        ReaderConfig(client_id="copy-check", fetch_max_wait=0.05, isolation_level="read_committed")
    )
    await reader.start()
    await reader.assign(parts)
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while any((reader.position(tp) or 0) < ends[tp] for tp in parts):
        assert loop.time() < deadline, f"output not read to its end {ends} within {within}s"
        batches = await reader.getmany(timeout=0.1)
        for messages in batches.values():
            records.extend((orjson.loads(m.key), orjson.loads(m.value)) for m in messages)
    await reader.stop()
    return records


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
async def test_a_killed_worker_is_replaced_and_the_output_is_exact(
    kafka_url: str, tmp_path: Path, guarantee: str
) -> None:
    """Two workers copy 50,000 keyed records (100 keys, seq 0..499 each); once a fifth of
    the input is committed, one worker is killed with SIGKILL (its transaction stays open
    on the broker until the transaction timeout aborts it) and a third starts. When the
    group has committed the input to its end, the output read with read_committed holds:
    exactly-once, each (key, seq) once, every key's seqs 0..499 in order; at-least-once,
    each (key, seq) at least once (the killed worker's uncommitted work is done again)."""
    run = uuid.uuid4().hex[:8]
    app_id, source, target = f"copy-{run}", f"copy-in-{run}", f"copy-out-{run}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COPY_APP_ID": app_id,
        "COPY_IN": source,
        "COPY_OUT": target,
        "COPY_GUARANTEE": guarantee,
    }
    transport = KafkaTransport(kafka_url)
    await transport.create_topics([TopicSpec(source, PARTS), TopicSpec(target, PARTS)])
    args = ["worker", APP, "--broker", kafka_url, "--loglevel", "INFO", "--json-logs"]

    async def worker(name: str) -> Worker:
        return await start_worker(args, env, tmp_path / f"{name}.log", tmp_path)

    workers = [await worker("first"), await worker("second")]
    try:
        await until(
            lambda: (
                sum(len(w.assignment()) for w in workers) == PARTS
                and all(w.assignment() for w in workers)
            ),
            within=30,
            what="the two workers share the four partitions",
        )
        ends = await produce(transport, source)
        total = sum(ends.values())
        assert total == KEYS * PER_KEY

        progress: dict[int, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while sum(progress.values()) < total // 5:
            assert loop.time() < deadline, f"committed {progress} of {ends}"
            await asyncio.sleep(0.05)
            progress = await committed(transport, app_id, source)
        assert sum(progress.values()) < total, "killed after the end: nothing to recover"
        victim = workers[0]
        victim.process.kill()  # SIGKILL: no commit, no abort, no LeaveGroup
        assert await victim.process.wait() == -signal.SIGKILL
        workers.append(await worker("replacement"))

        deadline = loop.time() + 90
        while progress != ends:
            assert loop.time() < deadline, f"committed {progress}, ends {ends}"
            assert all(w.process.returncode is None for w in workers[1:]), "a worker died"
            await asyncio.sleep(0.2)
            progress = await committed(transport, app_id, source)
        output = await read_committed(transport, target, within=60)
        for w in workers[1:]:
            w.process.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            async with asyncio.timeout(20):
                assert await w.process.wait() == 0, w.log.read_text(errors="replace")[-2000:]
    finally:
        for w in workers:
            if w.process.returncode is None:
                w.process.kill()
                await w.process.wait()
        await transport.close()

    per_key: dict[str, list[int]] = defaultdict(list)
    for key, value in output:
        assert value["double"] == 2 * value["seq"]
        per_key[key].append(value["seq"])
    everything = {(f"k{k}", s) for k in range(KEYS) for s in range(PER_KEY)}
    copied = [(key, seq) for key, seqs in per_key.items() for seq in seqs]
    assert set(copied) == everything, "lost records"
    victim_pid = victim.process.pid
    assert any(value["pid"] == victim_pid for _, value in output), "the victim committed nothing"
    if guarantee == "exactly_once":
        assert len(copied) == len(everything), f"{len(copied) - len(everything)} duplicates"
        for key, seqs in per_key.items():
            assert seqs == list(range(PER_KEY)), f"{key} out of order"


async def test_a_zombie_worker_s_late_writes_are_fenced(kafka_url: str, tmp_path: Path) -> None:
    """A worker frozen with SIGSTOP mid-stream (a long GC pause, a stalled VM) for longer
    than its session timeout is expelled; the other worker takes its partitions over from
    the last committed offsets. When the zombie wakes up (SIGCONT) with its transaction
    still open, the offsets it sends carry its old generation: the group coordinator
    refuses them, the transaction is aborted and nothing it wrote becomes visible. The
    output read with read_committed holds every record exactly once, in order per key,
    and the zombie rejoins the group and stops cleanly."""
    run = uuid.uuid4().hex[:8]
    app_id, source, target = f"zombie-{run}", f"zombie-in-{run}", f"zombie-out-{run}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COPY_APP_ID": app_id,
        "COPY_IN": source,
        "COPY_OUT": target,
        "COPY_GUARANTEE": "exactly_once",
    }
    transport = KafkaTransport(kafka_url)
    await transport.create_topics([TopicSpec(source, PARTS), TopicSpec(target, PARTS)])
    args = ["worker", APP, "--broker", kafka_url, "--loglevel", "DEBUG", "--json-logs"]
    workers = [
        await start_worker(args, env, tmp_path / f"{name}.log", tmp_path)
        for name in ("zombie", "survivor")
    ]
    zombie, survivor = workers
    try:
        await until(
            lambda: bool(zombie.assignment()) and bool(survivor.assignment()),
            within=30,
            what="the two workers share the four partitions",
        )
        ends = await produce(transport, source)
        total = sum(ends.values())

        await until(
            lambda: '"transaction_committed"' in zombie.log.read_text(errors="replace"),
            within=30,
            what="the zombie commits its first transaction (and goes on sending)",
        )
        zombie.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(4.0)  # > session timeout (3 s), < transaction timeout (5 s)
        await until(
            lambda: len(survivor.assignment()) == PARTS,
            within=20,
            what="the survivor takes every partition",
        )
        zombie.process.send_signal(signal.SIGCONT)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        progress: dict[int, int] = {}
        while progress != ends:
            assert loop.time() < deadline, f"committed {progress}, ends {ends}"
            await asyncio.sleep(0.2)
            progress = await committed(transport, app_id, source)
        output = await read_committed(transport, target, within=60)
        await until(
            lambda: (
                '"reason": "fenced"' in zombie.log.read_text(errors="replace")
                or '"reason":"fenced"' in zombie.log.read_text(errors="replace")
            ),
            within=20,
            what="the zombie's transaction is aborted as fenced",
        )
        for w in workers:
            w.process.send_signal(signal.SIGTERM)
        for w in workers:
            async with asyncio.timeout(20):
                assert await w.process.wait() == 0, w.log.read_text(errors="replace")[-3000:]
    finally:
        for w in workers:
            if w.process.returncode is None:
                w.process.send_signal(signal.SIGCONT)
                w.process.kill()
                await w.process.wait()
        await transport.close()

    per_key: dict[str, list[int]] = defaultdict(list)
    for key, value in output:
        per_key[key].append(value["seq"])
    assert sum(map(len, per_key.values())) == total, "lost or duplicated records"
    for key, seqs in per_key.items():
        assert seqs == list(range(PER_KEY)), f"{key} out of order or repeated"


async def test_a_table_counted_by_workers_one_of_them_killed_is_exact(
    kafka_url: str, tmp_path: Path
) -> None:
    """Two exactly-once workers count 50,000 keyed records per key in a table; one is
    killed with SIGKILL mid-stream and replaced. Its table partitions are recovered by
    the others from the changelog (its open transaction, holding changelog records and
    offsets, is aborted), and the table read back from its changelog with read_committed
    (the latest record of each key) equals the reference: 500 for each of the 100 keys."""
    run = uuid.uuid4().hex[:8]
    app_id, source = f"count-{run}", f"count-in-{run}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COUNT_APP_ID": app_id,
        "COUNT_IN": source,
    }
    transport = KafkaTransport(kafka_url)
    await transport.create_topics([TopicSpec(source, PARTS)])
    args = ["worker", "tests.scaleout.count_app:app", "--broker", kafka_url, "--json-logs"]
    args += ["--loglevel", "INFO"]

    async def worker(name: str) -> Worker:
        return await start_worker(args, env, tmp_path / f"{name}.log", tmp_path)

    workers = [await worker("first"), await worker("second")]
    try:
        await until(
            lambda: (
                sum(len(w.assignment()) for w in workers) == PARTS
                and all(w.assignment() for w in workers)
            ),
            within=30,
            what="the two workers share the four partitions",
        )
        ends = await produce(transport, source)
        total = sum(ends.values())
        progress: dict[int, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while sum(progress.values()) < total // 5:
            assert loop.time() < deadline, f"committed {progress} of {ends}"
            await asyncio.sleep(0.05)
            progress = await committed(transport, app_id, source)
        assert sum(progress.values()) < total, "killed after the end: nothing to recover"
        workers[0].process.kill()
        assert await workers[0].process.wait() == -signal.SIGKILL
        workers.append(await worker("replacement"))
        deadline = loop.time() + 90
        while progress != ends:
            assert loop.time() < deadline, f"committed {progress}, ends {ends}"
            assert all(w.process.returncode is None for w in workers[1:]), "a worker died"
            await asyncio.sleep(0.2)
            progress = await committed(transport, app_id, source)
        assert any(
            entry.get("event") == "table_recovered" and entry.get("records", 0) > 0
            for w in workers[1:]
            for entry in w.entries()
        ), "no worker recovered table partitions from the changelog"
        for w in workers[1:]:
            w.process.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            async with asyncio.timeout(20):
                assert await w.process.wait() == 0, w.log.read_text(errors="replace")[-2000:]
        changelog = await read_committed(transport, f"{app_id}-counts-changelog", within=60)
    finally:
        for w in workers:
            if w.process.returncode is None:
                w.process.kill()
                await w.process.wait()
        await transport.close()

    table: dict[str, int] = {}
    for key, value in changelog:  # in partition order, so the last record of a key wins
        table[key] = value
    assert table == {f"k{k}": PER_KEY for k in range(KEYS)}
