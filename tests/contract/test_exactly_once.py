"""Exactly-once, the same on every broker: an app's output and the input offsets that led to
it are committed together or not at all. Readers with ``read_committed`` see each input's
output once, across a crash mid-transaction, a killed worker and a graceful stop."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from rxstreams import AgentError, App, Stream
from rxstreams.messages import TopicPartition
from tests.contract.conftest import Cluster

EOS: dict[str, Any] = {"processing_guarantee": "exactly_once", "commit_interval": 0.2}


async def committed_output(
    cluster: Cluster, topic: str, partitions: int, expect: int = 0
) -> list[Any]:
    """The values a read_committed reader reads from ``topic``: until ``expect`` arrived
    (an open transaction of a killed worker holds them back until it is aborted), then
    until nothing more came for half a second (a duplicate would)."""
    reader = await cluster.reader("eos-check", isolation_level="read_committed")
    await reader.assign([TopicPartition(topic, p) for p in range(partitions)])
    values: list[Any] = []
    quiet = 0
    async with asyncio.timeout(30):
        while len(values) < expect or quiet < 5:
            batches = await reader.getmany(timeout=0.1)
            for messages in batches.values():
                values.extend(orjson.loads(m.value) for m in messages if m.value is not None)
            quiet = 0 if batches else quiet + 1
    await reader.stop()
    return values


def copier(cluster: Cluster, group: str, source: str, target: str, **settings: Any) -> App:
    app = cluster.app(group, topic_partitions=2, **{**EOS, **settings})
    out = app.topic(target)

    @app.agent(app.topic(source), name="copy")
    async def copy(stream: Stream[int]) -> None:
        async for value in stream:
            await out.send(key=value, value=value * 10)

    return app


async def test_an_agent_that_fails_mid_transaction_leaves_no_visible_output(
    cluster: Cluster,
) -> None:
    """The agent copies values and fails at 60 after many were copied since the last
    commit (a long commit interval). The app stops with AgentError and aborts its
    transaction: read_committed shows no output at all, and nothing is committed. A new
    app of the group (without the failure) then copies everything exactly once."""
    source, target, group = cluster.name("in"), cluster.name("out"), cluster.name("app")
    await cluster.create_topic(source, 2)
    await cluster.create_topic(target, 2)
    await cluster.produce(source, [(i, i) for i in range(100)], partition=lambda k, v: v % 2)
    app = cluster.app(group, topic_partitions=2, **{**EOS, "commit_interval": 9.0})
    out = app.topic(target)
    copied: list[int] = []

    @app.agent(app.topic(source), name="copy")
    async def copy(stream: Stream[int]) -> None:
        async for value in stream:
            if value == 60:
                raise ValueError("bad record 60")
            await out.send(key=value, value=value * 10)
            copied.append(value)

    with pytest.raises(AgentError):
        async with app:
            await cluster.eventually(lambda: False, within=15, what="the agent fails")
    assert len(copied) >= 30  # sent, and aborted
    assert await committed_output(cluster, target, 2) == []
    assert await cluster.committed(group, source, 2) == {0: 0, 1: 0}

    again = copier(cluster, group, source, target)
    async with again:
        await cluster.wait_committed(group, source, {0: 50, 1: 50}, within=30)
    values = await committed_output(cluster, target, 2, expect=100)
    assert sorted(values) == [i * 10 for i in range(100)]


async def test_a_killed_worker_s_open_transaction_is_never_visible(cluster: Cluster) -> None:
    """A worker copies half of the input and is killed (no commit, no abort). Its open
    transaction never becomes visible (the memory broker and Kafka abort it when its
    transaction times out); the next worker starts at the committed offsets and the
    output holds each value once."""
    source, target, group = cluster.name("in"), cluster.name("out"), cluster.name("app")
    await cluster.create_topic(source, 2)
    await cluster.create_topic(target, 2)
    await cluster.produce(source, [(i, i) for i in range(200)], partition=lambda k, v: v % 2)
    first = cluster.app(group, topic_partitions=2, **{**EOS, "transaction_timeout": 2.0})
    out = first.topic(target)
    copied: list[int] = []
    gate = asyncio.Event()

    @first.agent(first.topic(source), name="copy")
    async def copy(stream: Stream[int]) -> None:
        async for value in stream:
            await out.send(key=value, value=value * 10)
            copied.append(value)
            if len(copied) == 120:
                await gate.wait()  # killed while holding an open transaction

    await first.start()
    await cluster.eventually(lambda: len(copied) == 120, within=20, what="120 copied")
    await cluster.crash(first)

    second = copier(cluster, group, source, target, transaction_timeout=2.0)
    async with second:
        await cluster.wait_committed(group, source, {0: 100, 1: 100}, within=40)
    values = await committed_output(cluster, target, 2, expect=200)
    assert sorted(values) == [i * 10 for i in range(200)]


async def test_a_graceful_stop_commits_the_open_transaction(cluster: Cluster) -> None:
    """With a commit interval longer than the test (and shorter than the transaction
    timeout, 10 s by default, as it must be), the output becomes visible only when
    the app stops gracefully: then the output and the offsets are committed together."""
    source, target, group = cluster.name("in"), cluster.name("out"), cluster.name("app")
    await cluster.create_topic(source, 2)
    await cluster.create_topic(target, 2)
    await cluster.produce(source, [(i, i) for i in range(40)], partition=lambda k, v: v % 2)
    app = cluster.app(group, topic_partitions=2, **{**EOS, "commit_interval": 9.0})
    out = app.topic(target)
    copied: list[int] = []

    @app.agent(app.topic(source), name="copy")
    async def copy(stream: Stream[int]) -> None:
        async for value in stream:
            await out.send(key=value, value=value * 10)
            copied.append(value)

    async with app:
        await cluster.eventually(lambda: len(copied) == 40, within=20, what="all copied")
        assert await committed_output(cluster, target, 2) == []
    output = await committed_output(cluster, target, 2, expect=40)
    assert sorted(output) == [i * 10 for i in range(40)]
    assert await cluster.committed(group, source, 2) == {0: 20, 1: 20}
