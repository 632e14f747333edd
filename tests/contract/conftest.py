"""The behavioural contract, run against every broker: the embedded one and Apache Kafka.

Every test of this directory takes :func:`cluster`, parametrized by :func:`broker_url`:

- ``memory``: a ``memory://NAME`` broker of its own (a fresh :class:`MemoryBroker`,
  forgotten afterwards);
- ``kafka``: the session's Apache Kafka broker (``kafka_url``); topics and groups outlive a test
  there, so every name comes from :meth:`Cluster.name`.

Apps are made with ``App(id, broker=url)`` — the same code path a user takes — and the
settings that make groups form and commits land quickly (a 2 s session, 50 ms
fetch waits, 0.2 s commit interval). The helpers read what a user of either broker would
look at: the group's committed offsets, the records on a topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from rxstreams import App, TopicPartition
from rxstreams.messages import RecordMetadata, TopicSpec
from rxstreams.testing import crash
from rxstreams.transports import transport_from_url
from rxstreams.types import ConsumerConfig, MessageT, ProducerConfig, ReaderConfig, ReaderT
from rxstreams_memory import MemoryBroker

#: settings that make a group form and notice a crash quickly, and commits land quickly
FAST: dict[str, Any] = {
    "session_timeout": 2.0,
    "fetch_timeout": 0.05,
    "commit_interval": 0.2,
    "shutdown_timeout": 5.0,
}


@pytest.fixture(
    params=[pytest.param("memory"), pytest.param("kafka", marks=pytest.mark.kafka)],
)
def broker_url(request: pytest.FixtureRequest) -> Iterable[str]:
    """``memory://<fresh name>`` or the session's ``kafka://127.0.0.1:PORT``."""
    if request.param == "kafka":
        yield request.getfixturevalue("kafka_url")
        return
    name = f"contract-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    MemoryBroker.forget_named(name)


@pytest.fixture
async def cluster(broker_url: str) -> AsyncIterator[Cluster]:
    """The test's view of its broker; apps still running at the end are stopped."""
    c = Cluster(broker_url)
    try:
        yield c
    finally:
        await c.close()


class _Listener:
    """A rebalance listener that only says when partitions were assigned."""

    def __init__(self) -> None:
        self.assigned = asyncio.Event()

    async def on_partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        self.assigned.clear()

    async def on_partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        self.assigned.set()


class Cluster:
    """Apps on one broker, and what a test reads from that broker."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = urlsplit(url).scheme
        self._run = uuid.uuid4().hex[:8]
        self._counter = itertools.count()
        self._apps: list[App] = []
        self._transport = transport_from_url(url)
        self._producer: Any = None

    # -- names and apps -----------------------------------------------------------------

    def name(self, prefix: str) -> str:
        """A topic or group name no other test uses (the broker's state outlives a test)."""
        return f"{prefix}-{self._run}-{next(self._counter)}"

    def app(self, id: str, **settings: Any) -> App:
        """``App(id, broker=url)`` with fast group settings (overridable); stopped at the end."""
        app = App(id, broker=self.url, **{**FAST, **settings})
        self._apps.append(app)
        return app

    async def reader(self, client_id: str = "contract-reader", **config: Any) -> ReaderT:
        """A started reader (no group) with short fetch waits; stopped at the end."""
        reader = self._transport.create_reader(
            ReaderConfig(client_id=client_id, **{"fetch_max_wait": 0.05, **config})
        )
        await reader.start()
        return reader

    async def crash(self, app: App) -> None:
        """Kill ``app`` as a ``kill -9`` would: no drain, no commit, no LeaveGroup.

        :func:`rxstreams.testing.crash` stops its tasks and crashes its group consumer (on
        Kafka the member then stays in the group until its session times out). It leaves
        the app's broker clients open; they are closed here (the producer flushes what
        the agents queued before the crash, as aiokafka would have sent it meanwhile).
        """
        transport = app.transport
        await crash(app)
        await transport.close()

    # -- producing ----------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int) -> None:
        await self._transport.create_topics([TopicSpec(name, partitions)])

    async def produce(
        self,
        topic: str,
        records: Iterable[tuple[Any, Any]],
        *,
        partition: Callable[[Any, Any], int] | None = None,
        headers: dict[str, bytes] | None = None,
        timestamp_ms: int | None = None,
    ) -> list[RecordMetadata]:
        """Send JSON ``(key, value)`` pairs; returns where each landed (all on the broker).

        ``partition(key, value)`` picks partitions explicitly; otherwise the key does.
        """
        if self._producer is None:
            self._producer = self._transport.create_producer(ProducerConfig(client_id="contract"))
            await self._producer.start()
        futures = [
            await self._producer.send(
                topic,
                orjson.dumps(v),
                key=None if k is None else orjson.dumps(k),
                partition=None if partition is None else partition(k, v),
                headers=None if headers is None else list(headers.items()),
                timestamp_ms=timestamp_ms,
            )
            for k, v in records
        ]
        return list(await asyncio.gather(*futures))

    # -- reading ------------------------------------------------------------------------

    async def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offset per partition (0 where nothing was committed).

        Memory: the broker's record of the group. Kafka: a consumer of the group that
        subscribes to nothing (so it does not join the group and disturb its members)
        asks the group coordinator.
        """
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        if self.kind == "memory":
            broker = MemoryBroker.named(urlsplit(self.url).netloc)
            return {tp.partition: broker.committed(group, tp) or 0 for tp in tps}
        reader = self._transport.create_consumer(
            [], _Listener(), ConsumerConfig(group_id=group, client_id="contract-reader")
        )
        await reader.start()
        try:
            return {tp.partition: await reader.committed(tp) or 0 for tp in tps}
        finally:
            await reader.stop()

    async def records(self, topic: str, partitions: int) -> list[MessageT]:
        """Every record on ``topic`` now, partition by partition in offset order."""
        if self.kind == "memory":
            broker = MemoryBroker.named(urlsplit(self.url).netloc)
            return [m for p in range(partitions) for m in broker.records(TopicPartition(topic, p))]
        listener = _Listener()
        reader = self._transport.create_consumer(
            [topic],
            listener,
            ConsumerConfig(
                group_id=self.name("contract-reader"),
                client_id="contract-reader",
                session_timeout=2.0,
                fetch_max_wait=0.05,
            ),
        )
        await reader.start()
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        got: dict[TopicPartition, list[MessageT]] = {tp: [] for tp in tps}

        def done() -> bool:
            for tp in tps:
                end, position = reader.highwater(tp), reader.position(tp)
                if end is None or position is None or position < end:
                    return False
            return True

        try:
            async with asyncio.timeout(15):
                while not (listener.assigned.is_set() and done()):
                    for tp, messages in (await reader.getmany(timeout=0.2)).items():
                        got[tp].extend(messages)
        finally:
            await reader.stop()
        return [m for tp in tps for m in got[tp]]

    async def groups(self) -> set[str]:
        """The ids of the consumer groups on the broker (they outlive a test).

        Kafka: ListGroups.
        """
        if self.kind == "memory":
            return set(MemoryBroker.named(urlsplit(self.url).netloc).groups())
        servers = urlsplit(self.url).netloc.split(",")
        admin = AIOKafkaAdminClient(bootstrap_servers=servers, client_id="contract-admin")
        await admin.start()
        try:
            return {group for group, _protocol in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    def ends(self, sent: Iterable[RecordMetadata], partitions: int) -> dict[int, int]:
        """The end offset of each partition after the records ``sent`` (from their metadata)."""
        ends = dict.fromkeys(range(partitions), 0)
        for md in sent:
            ends[md.partition] = max(ends[md.partition], md.offset + 1)
        return ends

    async def wait_committed(
        self, group: str, topic: str, expected: dict[int, int], *, within: float = 20.0
    ) -> None:
        """Wait until the group's committed offsets of ``topic`` are ``expected`` (for the
        partitions it names)."""
        partitions = 1 + max(expected)
        last: dict[int, int] = {}

        async def reached() -> bool:
            nonlocal last
            last = await self.committed(group, topic, partitions)
            return all(last[p] == o for p, o in expected.items())

        try:
            await self.eventually(reached, within=within)
        except AssertionError:
            raise AssertionError(
                f"{group} did not commit {expected} on {topic} within {within}s: {last}"
            ) from None

    # -- waiting ------------------------------------------------------------------------

    async def eventually(
        self, check: Callable[[], Any], *, within: float = 20.0, what: str = ""
    ) -> None:
        """Poll ``check`` (sync or async) until it is true; fail after ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            if loop.time() > deadline:
                raise AssertionError(f"not within {within}s: {what or check}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for app in self._apps:
            if app.state not in ("init", "stopped"):
                await app.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        await self._transport.close()


def assigned(app: App, topic: str) -> set[int]:
    """The partitions of ``topic`` the app's group member holds now."""
    return {row["partition"] for row in app.status() if row["topic"] == topic}


def values(messages: Sequence[MessageT]) -> list[Any]:
    """The JSON values of records."""
    return [orjson.loads(m.value) for m in messages if m.value is not None]
