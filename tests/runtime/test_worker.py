"""The worker: crash and stop semantics, the partition lifecycle, task ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from rxstreams import AgentError, AppStateError, ConfigurationError, Stream, TopicPartition
from rxstreams.runtime.lifecycle import Participant
from rxstreams.testing import wait_assigned
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


async def test_a_crash_cancels_the_async_with_body_and_raises_the_apps_error(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """An agent that crashes inside ``async with app:`` ends the body at once; the block
    raises AgentError (not CancelledError), long before the body would have ended."""
    fill(broker, "t", range(10))
    app = make_app("crashes")

    @app.agent(app.topic("t"))
    async def boom(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 3:
                raise ValueError("bad 3")

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    reached_the_end = False

    async def script() -> None:
        nonlocal reached_the_end
        async with app:
            await asyncio.sleep(3600)
            reached_the_end = True

    with pytest.raises(AgentError, match="bad 3"):
        await script()
    assert not reached_the_end
    assert loop.time() - t0 < 5
    assert app.state == "stopped"
    assert committed(broker, "crashes", "t") == 3


async def test_an_outer_cancellation_still_cancels_the_body(make_app: AppFactory) -> None:
    """A body cancelled from outside (a timeout) is cancelled, not turned into the app's
    error, and the app stops."""
    app = make_app("outer")

    async def script() -> None:
        async with asyncio.timeout(1), app:
            await asyncio.sleep(3600)

    with pytest.raises(TimeoutError):
        await script()
    assert app.state == "stopped"


async def test_run_raises_the_apps_error_promptly(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``app.run(timeout=...)`` ends as soon as an agent crashes, with AgentError."""
    fill(broker, "t", range(5))
    app = make_app("run-crash")

    @app.agent(app.topic("t"))
    async def boom(stream: Stream[int]) -> None:
        async for _ in stream:
            raise RuntimeError("no")

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(AgentError):
        await app.run(timeout=3600)
    assert loop.time() - t0 < 5


async def test_a_pending_ask_fails_with_the_apps_error_on_a_crash(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """ask() waiting for a reply raises the app's AgentError when another agent crashes."""
    app = make_app("ask-crash")
    boom_topic = app.topic("boom")

    @app.agent(app.topic("silent"))
    async def silent(stream: Stream[int]) -> None:
        async for _ in stream:
            pass  # never replies

    @app.agent(boom_topic)
    async def boom(stream: Stream[int]) -> None:
        async for _ in stream:
            raise ValueError("down")

    await app.start()
    asking = asyncio.ensure_future(silent.ask(1, timeout=600))
    await asyncio.sleep(1)
    await boom_topic.send(value=1)
    with pytest.raises(AgentError, match="down"):
        await asyncio.wait_for(asking, 30)
    await app.stop()


async def test_a_pending_ask_fails_clearly_on_a_graceful_stop(make_app: AppFactory) -> None:
    """ask() waiting for a reply raises AppStateError ("stopped") when the app stops."""
    app = make_app("ask-stop")

    @app.agent(app.topic("silent"))
    async def silent(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    await app.start()
    asking = asyncio.ensure_future(silent.ask(1, timeout=600))
    await asyncio.sleep(1)
    await app.stop()
    with pytest.raises(AppStateError, match="stopped before the reply"):
        await asking


async def test_a_topic_with_fewer_partitions_than_declared_is_refused(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A topic that exists with 2 partitions, declared with 4: ConfigurationError at start."""
    broker.create_topic("small", 2)
    app = make_app("declares")
    app.topic("small", partitions=4)
    with pytest.raises(ConfigurationError, match="2 partition"):
        await app.start()
    assert app.state == "stopped"


async def test_no_task_outlives_the_app(make_app: AppFactory, broker: MemoryBroker) -> None:
    """After stop, every task the app started (fetch, commit, agents, forwarders) ended."""
    fill(broker, "t", range(20))
    app = make_app("tasks")
    out = app.channel()

    @app.agent(app.topic("t"))
    async def forward(stream: Stream[int]) -> None:
        async for _ in stream.echo(out):
            pass

    @app.agent(out)
    async def sink(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    before = asyncio.all_tasks()
    await app.run(until_idle=True, timeout=30)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert left == []


class Recorder(Participant):
    """Records the lifecycle calls it gets; holds on_assigned until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.ready = asyncio.Event()

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self.calls.append(("assigned", sorted(p.partition for p in partitions)))
        await self.ready.wait()

    async def on_commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.calls.append(("commit", dict(offsets)))

    async def on_revoking(self, partitions: frozenset[TopicPartition]) -> None:
        self.calls.append(("revoking", sorted(p.partition for p in partitions)))

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self.calls.append(("revoked", sorted(p.partition for p in partitions)))


async def test_on_assigned_holds_delivery_until_the_participant_is_ready(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Nothing of a newly assigned partition is delivered before on_assigned returned."""
    fill(broker, "t", range(5))
    app = make_app("held")
    seen: list[int] = []

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for v in stream:
            seen.append(v)

    recorder = Recorder()
    app.worker.lifecycle.add(recorder)
    async with app:
        await asyncio.sleep(5)
        assert recorder.calls == [("assigned", [0])]
        assert seen == []
        recorder.ready.set()
        await wait_assigned(app)
        while len(seen) < 5:
            await asyncio.sleep(0.01)
    assert seen == list(range(5))


async def test_participants_see_commits_and_revocations_in_order(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """on_commit comes with the offsets before they are committed; a stop revokes with
    on_revoking before the final commit and on_revoked after it."""
    fill(broker, "t", range(5))
    app = make_app("order", commit_interval=3600, commit_every=None)
    recorder = Recorder()
    recorder.ready.set()
    tp = TopicPartition("t", 0)

    @app.agent(app.topic("t"))
    async def read(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    app.worker.lifecycle.add(recorder)
    await app.run(until_idle=True, timeout=30)
    assert recorder.calls == [
        ("assigned", [0]),
        ("revoking", [0]),
        ("commit", {tp: 5}),
        ("revoked", [0]),
    ]
    assert committed(broker, "order", "t") == 5


async def test_a_second_stop_without_drain_cuts_the_drain_short(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Ctrl-C twice: the first stop logs what it drains and waits; stop(drain=False) ends
    the wait at once, and nothing past the unfinished event is committed."""
    fill(broker, "t", range(10))
    app = make_app("twice", shutdown_timeout=3600, stream_buffer_maxsize=100)
    started = asyncio.Event()

    @app.agent(app.topic("t"))
    async def stuck(stream: Stream[int]) -> None:
        async for v in stream:
            if v == 2:
                started.set()
                await asyncio.sleep(10_000)

    await app.start()
    await started.wait()
    loop = asyncio.get_running_loop()
    with capture_logs() as logs:
        first = asyncio.ensure_future(app.stop())
        await asyncio.sleep(5)
        assert not first.done()
        t0 = loop.time()
        await app.stop(drain=False)
        await first
    assert loop.time() - t0 < 1
    stopping = [e for e in logs if e["event"] == "app_stopping"]
    assert [(e["draining"], e["timeout"]) for e in stopping] == [(8, 3600)]
    assert committed(broker, "twice", "t") == 2
