"""A worker rides out a broker outage longer than its session: it waits with backoff, logs
the outage once when it starts and once when it ends, reconnects, rejoins, and carries on
from the committed offsets.

Two outages: a broker restart, Apache Kafka killed with SIGKILL and started again on the
same log directory and port (its topics, records, groups and committed offsets are still
there); and a network outage, through a proxy whose connections are cut while the broker
keeps running, so that the broker expires the worker's session and the worker must rejoin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from rxstreams import App, Stream
from rxstreams.errors import BrokerUnavailableError
from rxstreams.messages import TopicPartition, TopicSpec
from rxstreams.types import ConsumerConfig
from rxstreams_kafka import KafkaTransport
from tests.adapters.rxstreams_kafka.helpers import RecordingListener, wait_assigned
from tests.brokers.kafka import KafkaBroker

pytestmark = pytest.mark.kafka

#: short, so that an outage longer than a session stays short too
SESSION = 2.0


@pytest.fixture
async def broker(kafka_broker: Callable[..., KafkaBroker]) -> KafkaBroker:
    """A running Apache Kafka broker of the test's own (stopped at its end)."""
    broker = kafka_broker()
    await broker.start_async()
    return broker


async def wait_for(condition: Callable[[], bool], *, within: float, what: str) -> None:
    """Poll ``condition`` (real time: a real broker is involved) until true, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)


class CuttableLink:
    """A TCP proxy in front of the broker whose connections can be cut, as a network
    outage would: open connections are reset and new ones refused until :meth:`restore`."""

    def __init__(self) -> None:
        self.port = 0
        self.target = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Listen (on the same port as before, if it listened already)."""
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        """Cut, and end every task of the proxy."""
        if self._server is not None:
            await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def link(kafka_broker: Callable[..., KafkaBroker]) -> AsyncIterator[CuttableLink]:
    """An Apache Kafka broker of the test's own behind a cuttable proxy (the address it
    advertises is the proxy's)."""
    link = CuttableLink()
    await link.open()
    broker = kafka_broker(advertised_port=link.port)
    link.target = broker.choose_ports()["PLAINTEXT"]
    await broker.start_async()
    try:
        yield link
    finally:
        await link.close()


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_a_worker_rides_out_a_broker_restart_longer_than_its_session(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    """The broker is killed with events in flight and restarted after 2.5 sessions: the
    worker does not crash, logs one broker_unavailable and one broker_available, and
    processes every record from before the outage and after it at least once; in the
    end the group's committed offsets are the end of each partition."""
    topic, app_id = names("orders"), names("app")
    app = App(
        app_id,
        broker=broker.url,
        topic_partitions=2,
        session_timeout=SESSION,
        fetch_timeout=0.1,
        commit_interval=0.2,
    )
    seen: list[int] = []

    @app.agent(app.topic(topic))
    async def work(stream: Stream[int]) -> None:
        async for value in stream:
            await asyncio.sleep(0.02)  # slow enough to have events in flight at the kill
            seen.append(value)

    before, after = set(range(60)), set(range(100, 110))
    with capture_logs() as logs:
        async with app:
            for value in sorted(before):
                await app.topic(topic).send(value=value)
            await wait_for(lambda: len(seen) >= 5, within=15, what="processing started")
            broker.kill()
            killed = asyncio.get_running_loop().time()
            unfinished = len(before - set(seen))
            await asyncio.sleep(2.5 * SESSION)
            assert app.state == "running"
            await broker.start_async()
            for value in sorted(after):
                await app.topic(topic).send(value=value)
            await wait_for(
                lambda: before | after <= set(seen),
                within=30,
                what=f"every record processed: missing {sorted(before | after - set(seen))}",
            )
            assert app.state == "running"
            caught_up = asyncio.get_running_loop().time()
            await asyncio.sleep(4 * 0.2)  # a few commit intervals
    assert unfinished > 0  # the outage started with events not yet processed
    assert _events(logs, "app_crashed") == []
    unavailable = _events(logs, "broker_unavailable")
    available = _events(logs, "broker_available")
    assert len(unavailable) == 1, unavailable
    assert len(available) == 1, available
    assert unavailable[0]["log_level"] == "warning"
    assert available[0]["log_level"] == "info"
    # from the first failure seen (up to a session after the kill) to the reconnection
    assert 0 < available[0]["down_for"] < caught_up - killed

    # the worker committed past everything it processed, and nothing is left to read
    await assert_all_committed(broker.url, app_id, topic, len(before | after))


async def assert_all_committed(url: str, group: str, topic: str, records: int) -> None:
    """The group's committed offsets of both partitions of ``topic`` are their ends."""
    transport = KafkaTransport(url)
    try:
        checker = transport.create_consumer(
            [topic],
            RecordingListener("checker", []),
            ConsumerConfig(group, "checker", session_timeout=SESSION, fetch_max_wait=0.05),
        )
        await checker.start()
        await wait_assigned(checker, partitions=2)
        tps = [TopicPartition(topic, p) for p in range(2)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while any(checker.highwater(tp) is None for tp in tps) and loop.time() < deadline:
            assert await checker.getmany(timeout=0.2) == {}  # nothing left to read
        ends = {tp: checker.highwater(tp) for tp in tps}
        assert sum(e or 0 for e in ends.values()) == records
        assert {tp: await checker.committed(tp) for tp in tps} == ends
    finally:
        await transport.close()


async def test_a_worker_rejoins_after_a_network_outage_longer_than_its_session(
    link: CuttableLink, names: Callable[[str], str]
) -> None:
    """The worker's connections to a running broker are cut for 2.5 sessions with events
    in flight: the broker drops it from the group, and the worker, without crashing, logs
    the outage once each way, rejoins, and processes every record at least once."""
    url = f"kafka://127.0.0.1:{link.port}"
    topic, app_id = names("orders"), names("app")
    app = App(
        app_id,
        broker=url,
        topic_partitions=2,
        session_timeout=SESSION,
        fetch_timeout=0.1,
        commit_interval=0.2,
    )
    seen: list[int] = []

    @app.agent(app.topic(topic))
    async def work(stream: Stream[int]) -> None:
        async for value in stream:
            await asyncio.sleep(0.02)
            seen.append(value)

    before, after = set(range(60)), set(range(100, 110))
    with capture_logs() as logs:
        async with app:
            for value in sorted(before):
                await app.topic(topic).send(value=value)
            await wait_for(lambda: len(seen) >= 5, within=15, what="processing started")
            await link.cut()
            unfinished = len(before - set(seen))
            await asyncio.sleep(2.5 * SESSION)
            assert app.state == "running"
            await link.open()
            for value in sorted(after):
                await app.topic(topic).send(value=value)
            await wait_for(
                lambda: before | after <= set(seen),
                within=30,
                what=f"every record processed: missing {sorted(before | after - set(seen))}",
            )
            assert app.state == "running"
            await asyncio.sleep(4 * 0.2)  # a few commit intervals
    assert unfinished > 0
    assert _events(logs, "app_crashed") == []
    assert len(_events(logs, "broker_unavailable")) == 1
    assert len(_events(logs, "broker_available")) == 1
    # the broker had dropped the member: it joined again and got its partitions back
    assigned = _events(logs, "partitions_assigned")
    assert len(assigned) >= 2
    assert assigned[-1]["partitions"] == [f"{topic}[0]", f"{topic}[1]"]
    await assert_all_committed(url, app_id, topic, len(before | after))


async def test_getmany_says_the_broker_is_unavailable_after_a_session_without_it(
    link: CuttableLink, names: Callable[[str], str]
) -> None:
    """aiokafka's getmany keeps returning nothing while the broker is unreachable; ours
    raises a retriable BrokerUnavailableError once a whole session went by without a
    group coordinator, returns again once the broker answers, and stops cleanly."""
    transport = KafkaTransport(f"kafka://127.0.0.1:{link.port}")
    topic = names("t")
    await transport.create_topics([TopicSpec(topic, 1)])
    consumer = transport.create_consumer(
        [topic],
        RecordingListener("c", []),
        ConsumerConfig(names("g"), "c", session_timeout=SESSION, fetch_max_wait=0.05),
    )
    try:
        await consumer.start()
        await wait_assigned(consumer, partitions=1)
        await link.cut()
        loop = asyncio.get_running_loop()
        cut = loop.time()

        async def fetch_for(seconds: float) -> None:
            while loop.time() - cut < seconds:
                assert await consumer.getmany(timeout=0.2) == {}

        with pytest.raises(BrokerUnavailableError, match="no group coordinator") as info:
            await fetch_for(4 * SESSION)
        assert info.value.retriable
        assert loop.time() - cut >= SESSION
        await link.open()
        await wait_assigned(consumer, partitions=1, within=15)  # no error on the way
    finally:
        await link.cut()  # the broker goes away again: stop() still ends cleanly
        await transport.close()
