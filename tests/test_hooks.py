"""The app's hooks: @app.on_started, @app.on_stopped, the partition signals and
on_startup_finished, called through the worker's lifecycle; a failing hook stops the app."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams import App, ConfigurationError, Stream, TaskError, TopicPartition
from tests.helpers import AppFactory

pytestmark = pytest.mark.looptime


def _counting_agent(app: App, seen: list[Any]) -> None:
    topic = app.topic("hooked", partitions=2)

    @app.agent(topic, name="counter")
    async def counter(stream: Stream[Any]) -> Any:
        async for value in stream:
            seen.append(("value", value))
            yield value


async def test_hooks_run_in_lifecycle_order(make_app: AppFactory) -> None:
    """on_started after the start (agents running), assigned partitions before delivery,
    revoked ones before the final commit, on_stopped last (the last declared first)."""
    app = make_app()
    seen: list[Any] = []
    _counting_agent(app, seen)
    await app.topic("hooked").send(value=1, partition=1)

    @app.on_started
    async def started() -> None:
        seen.append(("started", app.state))

    async def finished() -> None:
        seen.append(("startup_finished",))

    app.on_startup_finished = finished

    @app.on_partitions_assigned.connect
    async def assigned(sender: App, partitions: set[TopicPartition]) -> None:
        assert sender is app
        seen.append(("assigned", sorted(partitions)))

    @app.on_partitions_revoked.connect
    def revoked(sender: App, partitions: set[TopicPartition], **kwargs: Any) -> None:
        seen.append(("revoked", sorted(partitions), app.state))

    @app.on_stopped
    async def stopped_first() -> None:
        seen.append(("stopped", "first"))

    @app.on_stopped
    async def stopped_second() -> None:
        seen.append(("stopped", "second", app.state))

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [1]
    tps = [TopicPartition("hooked", 0), TopicPartition("hooked", 1)]
    assert seen[:2] == [("started", "running"), ("startup_finished",)]
    assert seen.index(("assigned", tps)) < seen.index(("value", 1))
    assert seen[-3:] == [
        ("revoked", tps, "stopping"),
        ("stopped", "second", "stopping"),
        ("stopped", "first"),
    ]


async def test_a_failing_on_started_hook_stops_the_app(make_app: AppFactory) -> None:
    """The error names the hook and has its error as cause; the app stops, as it does when
    an agent fails."""
    app = make_app()
    _counting_agent(app, [])

    @app.on_started
    async def boom() -> None:
        raise ValueError("no database")

    with pytest.raises(TaskError, match=r"@app.on_started hook .*boom failed") as err:
        await app.run(until_idle=True, timeout=30)
    assert isinstance(err.value.__cause__, ValueError)
    assert app.state == "stopped"


async def test_a_failing_partition_receiver_stops_the_app(make_app: AppFactory) -> None:
    """A receiver of on_partitions_assigned that raises crashes the app: nothing of those
    partitions is processed."""
    app = make_app()
    seen: list[Any] = []
    _counting_agent(app, seen)
    await app.topic("hooked").send(value=1)

    @app.on_partitions_assigned.connect
    def refuse(sender: App, partitions: set[TopicPartition]) -> None:
        raise RuntimeError("not these")

    with pytest.raises(TaskError, match=r"app\.on_partitions_assigned receiver .*refuse failed"):
        await app.run(until_idle=True, timeout=30)
    assert seen == []
    assert app.state == "stopped"


async def test_a_failing_on_stopped_hook_is_the_error_the_app_stopped_with(
    make_app: AppFactory,
) -> None:
    app = make_app()

    @app.on_stopped
    async def broken() -> None:
        raise OSError("disk full")

    await app.start()
    await app.stop()
    with pytest.raises(TaskError, match=r"@app\.on_stopped hook .*broken failed"):
        await app.wait()


def test_hooks_are_async_functions_without_arguments() -> None:
    """A plain function, or one taking arguments, is refused at declaration."""
    app = App("hooks-refused")

    def plain() -> None: ...

    async def takes(x: int) -> None: ...

    with pytest.raises(ConfigurationError, match="async function"):
        app.on_started(plain)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must take no argument"):
        app.on_stopped(takes)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="async function"):
        app.on_startup_finished = plain  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match="takes a function"):
        app.on_partitions_assigned.connect(42)  # type: ignore[call-overload]


async def test_a_disconnected_receiver_is_not_called(make_app: AppFactory) -> None:
    app = make_app()
    calls: list[Any] = []
    _counting_agent(app, [])

    def receiver(sender: App, partitions: set[TopicPartition]) -> None:
        calls.append(partitions)

    app.on_partitions_assigned.connect(receiver)
    app.on_partitions_assigned.disconnect(receiver)
    await app.run(until_idle=True, timeout=30)
    assert calls == []


async def test_receivers_get_the_signal_as_in_faust(make_app: AppFactory) -> None:
    """Faust calls ``receiver(app, partitions, signal=signal)``: a receiver taking
    ``**kwargs`` (Faust's docs ask for it) or ``signal`` gets the signal; one taking
    neither is called without it. ``connect()`` with parentheses decorates too."""
    app = make_app()
    _counting_agent(app, [])
    got: list[Any] = []

    @app.on_partitions_assigned.connect()
    async def with_kwargs(sender: App, partitions: set[TopicPartition], **kwargs: Any) -> None:
        got.append(("kwargs", kwargs))

    @app.on_partitions_assigned.connect
    def with_signal(sender: App, partitions: set[TopicPartition], signal: Any = None) -> None:
        got.append(("signal", signal))

    @app.on_partitions_assigned.connect
    def without(sender: App, partitions: set[TopicPartition]) -> None:
        got.append(("without", None))

    await app.run(until_idle=True, timeout=30)
    signal = app.on_partitions_assigned
    assert got == [("kwargs", {"signal": signal}), ("signal", signal), ("without", None)]
