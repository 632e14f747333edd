"""Scale-out with real processes on Apache Kafka: ``rxstreams worker`` processes of one app
share the partitions; one is killed with SIGKILL mid-stream and the others take its
partitions over, losing nothing and keeping each key's order. Also ``rxstreams send``,
``agents`` and ``topics`` against the same broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from rxstreams.messages import TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig
from rxstreams_kafka import KafkaTransport
from tests.scaleout.processes import (
    PARTS,
    ROOT,
    _NoListener,
    committed,
    rxstreams_command,
    start_worker,
    until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

APP = "tests.scaleout.app_for_workers:app"
KEYS = 16
PER_KEY = 50


def environment(app_id: str, topic: str, out_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCALEOUT_APP_ID": app_id,
        "SCALEOUT_TOPIC": topic,
        "SCALEOUT_OUT": str(out_dir),
    }


async def test_killed_worker_s_partitions_move_and_nothing_is_lost(
    kafka_url: str, tmp_path: Path
) -> None:
    """Three workers share 4 partitions; 800 keyed jobs (16 keys, seq 0..49 each) are
    produced; the first worker to have processed 20 jobs is killed with SIGKILL. The two
    others take its partitions over (after its 2 s session expired) and the group commits
    to the end: every job was processed at least once, each worker processed each key's
    jobs in sequence order, and the killed worker's partitions were finished by the others.
    Then the survivors stop on SIGTERM with exit status 0."""
    run = uuid.uuid4().hex[:8]
    app_id, topic = f"scaleout-{run}", f"jobs-{run}"
    env = environment(app_id, topic, tmp_path)
    transport = KafkaTransport(kafka_url)
    await transport.create_topics([TopicSpec(topic, PARTS)])
    spellings = [
        ["worker", APP, "--broker", kafka_url, "--loglevel", "INFO", "--json-logs"],
        ["-A", APP, "--loglevel", "INFO", "--json-logs", "worker", "--broker", kafka_url],
        ["worker", APP, "--broker", kafka_url, "--json-logs"],
    ]
    workers = [
        await start_worker(args, env, tmp_path / f"worker-{i}.log", tmp_path)
        for i, args in enumerate(spellings)
    ]
    producer = transport.create_producer(ProducerConfig(client_id="scaleout-test"))
    try:
        await until(
            lambda: (
                all(w.assignment() for w in workers)
                and sum(len(w.assignment()) for w in workers) == PARTS
            ),
            within=30,
            what="the three workers share the four partitions",
        )
        await producer.start()
        sent = await asyncio.gather(
            *[
                await producer.send(topic, orjson.dumps({"seq": seq}), key=orjson.dumps(f"k{key}"))
                for seq in range(PER_KEY)
                for key in range(KEYS)
            ]
        )
        ends = dict.fromkeys(range(PARTS), 0)
        for md in sent:
            ends[md.partition] = max(ends[md.partition], md.offset + 1)

        await until(
            lambda: any(len(w.processed()) >= 20 for w in workers),
            within=20,
            what="a worker processed 20 jobs",
        )
        victim = next(w for w in workers if len(w.processed()) >= 20)
        victim.process.kill()  # SIGKILL: no commit, no LeaveGroup
        assert await victim.process.wait() == -signal.SIGKILL
        survivors = [w for w in workers if w is not victim]
        by_victim = victim.processed()
        victim_last: dict[int, int] = {}
        for _key, _seq, partition, offset, _pid in by_victim:
            victim_last[partition] = max(victim_last.get(partition, -1), offset)
        # it was killed in the middle of its partitions
        assert any(last + 1 < ends[p] for p, last in victim_last.items())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40
        offsets: dict[int, int] = {}
        while offsets != ends:
            assert loop.time() < deadline, f"committed {offsets}, ends {ends}"
            assert all(w.process.returncode is None for w in survivors), "a survivor died"
            await asyncio.sleep(0.2)
            offsets = await committed(transport, app_id, topic)

        moved = {f"{topic}[{p}]" for p in victim_last}
        # a subset: the survivors also own the partitions they had before
        assert moved.issubset(set().union(*(w.assignment() for w in survivors)))
        for w in survivors:
            w.process.send_signal(signal.SIGTERM)
        for w in survivors:
            async with asyncio.timeout(20):
                assert await w.process.wait() == 0, w.log.read_text(errors="replace")[-2000:]
    finally:
        for w in workers:
            if w.process.returncode is None:
                w.process.kill()
                await w.process.wait()
        await producer.stop()
        await transport.close()

    everything = {(f"k{key}", seq) for key in range(KEYS) for seq in range(PER_KEY)}
    processed = {w.process.pid: w.processed() for w in workers}
    assert {(k, s) for lines in processed.values() for k, s, *_ in lines} == everything
    for pid, lines in processed.items():
        per_key: dict[str, list[int]] = defaultdict(list)
        for key, seq, *_ in lines:
            per_key[key].append(seq)
        for key, seqs in per_key.items():  # a repeat is an event delivered again
            assert seqs == sorted(seqs), f"worker {pid} processed {key} out of order: {seqs}"
    for p in victim_last:
        after = [o for w in survivors for _, _, part, o, _ in w.processed() if part == p]
        assert max(after) == ends[p] - 1  # the survivors finished the victim's partition


async def test_send_agents_and_topics_commands_on_kafka(kafka_url: str, tmp_path: Path) -> None:
    """``rxstreams send`` produces one keyed record to the Kafka broker and prints where it
    landed; ``agents`` and ``topics`` list what the app declares."""
    run = uuid.uuid4().hex[:8]
    topic = f"jobs-{run}"
    env = environment(f"cli-{run}", topic, tmp_path)

    async def rxstreams(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *rxstreams_command(),
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode(errors="replace")
        return out.decode()

    sent, agents, topics = await asyncio.gather(
        rxstreams("send", APP, topic, '{"seq": 7}', "--key", "k1", "--broker", kafka_url),
        rxstreams("agents", APP),
        rxstreams("-A", APP, "topics"),
    )
    landed = json.loads(sent)
    assert landed["topic"] == topic
    assert landed["offset"] == 0
    assert agents.split("\t")[:3] == ["process", topic, "concurrency=1"]
    assert topics.splitlines() == [f"{topic}\tpartitions={PARTS}"]

    transport = KafkaTransport(kafka_url)
    reader = transport.create_consumer(
        [topic],
        _NoListener(),
        ConsumerConfig(f"reader-{run}", "reader", session_timeout=2, fetch_max_wait=0.05),
    )
    await reader.start()
    try:
        records: list[Any] = []
        async with asyncio.timeout(15):
            while not records:
                for batch in (await reader.getmany(timeout=0.2)).values():
                    records.extend(batch)
    finally:
        await transport.close()
    assert [(r.partition, r.offset, r.key, r.value) for r in records] == [
        (landed["partition"], 0, b'"k1"', b'{"seq":7}')
    ]
