"""Worker processes for the scale-out tests: start ``rxstreams worker``, read what it logs
and wrote, poll for a condition in real time, read a group's committed offsets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import orjson

from rxstreams.messages import TopicPartition
from rxstreams.types import ConsumerConfig
from rxstreams_kafka import KafkaTransport

ROOT = Path(__file__).resolve().parents[2]
PARTS = 4


def rxstreams_command() -> list[str]:
    """The ``rxstreams`` console script of this environment (``python -m rxstreams`` if absent)."""
    script = Path(sys.executable).with_name("rxstreams")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rxstreams"]


class Worker:
    """One ``rxstreams worker`` process, its log file (JSON lines) and its output file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, out_dir: Path) -> None:
        self.process = process
        self.log = log
        self.output = out_dir / f"{process.pid}.jsonl"

    def assignment(self) -> set[str]:
        """The partitions it holds now, from its ``partitions_assigned/revoked`` logs."""
        held: set[str] = set()
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                # (the adapters' own debug lines list [topic, partition] pairs instead)
                names = [p for p in entry.get("partitions", ()) if isinstance(p, str)]
                if entry.get("event") == "partitions_assigned" and names:
                    held = set(names)
                elif entry.get("event") == "partitions_revoked":
                    held = set()
        return held

    def entries(self) -> list[dict[str, Any]]:
        """Its log lines (JSON) so far."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def processed(self) -> list[list[Any]]:
        """``[key, seq, partition, offset, pid]`` per event it processed, in order."""
        if not self.output.exists():
            return []
        return [orjson.loads(line) for line in self.output.read_bytes().splitlines()]


async def start_worker(args: list[str], env: dict[str, str], log: Path, out_dir: Path) -> Worker:
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *rxstreams_command(),
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    return Worker(process, log, out_dir)


async def until(check: Any, within: float, what: str) -> None:
    """Poll ``check()`` (real time: these are other processes) for at most ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.1)


async def committed(transport: KafkaTransport, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets, asked by a consumer that does not join the group."""
    reader = transport.create_consumer([], _NoListener(), ConsumerConfig(group, "test-reader"))
    await reader.start()
    try:
        return {p: await reader.committed(TopicPartition(topic, p)) or 0 for p in range(PARTS)}
    finally:
        await reader.stop()


class _NoListener:
    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        return None
