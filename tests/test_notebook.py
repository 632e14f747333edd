"""Notebook use: bounded runs that return outputs, to_list(), displays, live tables, progress."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from rxstreams import AppStateError, ConfigurationError, Stream
from rxstreams.notebook import LiveTable
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, fill

pytestmark = pytest.mark.looptime


async def test_run_with_count_returns_what_agents_yielded(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """run(count=3) stops after three outputs and returns them, by agent and in order."""
    fill(broker, "t", range(100))
    app = make_app("outputs")

    @app.agent(app.topic("t"), name="squares")
    async def squares(stream: Stream[int]) -> AsyncIterator[int]:
        async for n in stream:
            yield n * n

    result = await app.run(count=3, timeout=30)
    assert result.all == [0, 1, 4]
    assert result["squares"] == [0, 1, 4]
    assert app.state == "stopped"


async def test_take_to_list_collects_from_a_running_app(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A cell can start the app, collect five values from a stream, and stop it later."""
    fill(broker, "t", range(10))
    app = make_app("cells")
    t = app.topic("t")
    with pytest.raises(AppStateError, match="start it first"):
        await t.stream().take(5).to_list()
    await app.start()
    assert await t.stream().take(5).to_list() == [0, 1, 2, 3, 4]
    assert await t.stream().take(3).to_list() == [5, 6, 7]  # a later cell goes on
    await app.stop()


async def test_displays_show_partitions_offsets_lag_and_last_values(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """App, Topic, Agent, Event and Stream render HTML with what matters at a glance."""
    fill(broker, "t", [{"n": i} for i in range(4)])
    app = make_app("show")
    t = app.topic("t")
    seen = []

    @app.agent(t)
    async def read(stream: Stream[dict[str, int]]) -> None:
        async for event in stream.events():
            seen.append(event)

    await app.start()
    while len(seen) < 4:
        await asyncio.sleep(0.05)
    await app.worker.committer.commit()
    html = app._repr_html_()
    assert "App show" in html
    assert "<td>t</td><td>0</td><td>4</td><td>4</td><td>0</td>" in html  # end, committed, lag
    assert "{&#x27;n&#x27;: 3}" in t._repr_html_()  # the last values
    assert t.recent()[-1] == {"n": 3}
    assert "concurrency" in read._repr_html_()
    assert "t[0]@3" in seen[-1]._repr_html_()
    assert "t[0]@3" in repr(seen[-1])
    assert "Stream" in t.stream()._repr_html_()
    assert repr(app).startswith("<App show")
    await app.stop()


async def test_live_table_renders_a_few_times_a_second_with_the_latest_data() -> None:
    """100 updates over one second render at most ~5 times; the last render has the last
    data (a trailing render catches the final update)."""
    renders: list[str] = []
    table = LiveTable("totals", rate=4.0, display=renders.append)
    counts: Counter[str] = Counter()
    for i in range(100):
        counts[f"user{i % 3}"] += 1
        table.update(counts)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    assert 3 <= table.renders <= 6
    assert len(renders) == table.renders
    assert "<td>34</td>" in renders[-1]  # user0's final count
    assert table.rows == [("user0", 34), ("user1", 33), ("user2", 33)]


def test_live_table_refuses_a_rate_that_is_not_positive() -> None:
    """LiveTable(rate=0) is a ConfigurationError (a ValueError) that names the setting."""
    with pytest.raises(ConfigurationError, match=r"LiveTable\(rate=\)") as info:
        LiveTable("totals", rate=0, display=lambda html: None)
    assert isinstance(info.value, ValueError)


def test_live_table_rows_from_mappings_and_append() -> None:
    """Rows may be mappings (columns from their keys) or plain values; append scrolls."""
    table = LiveTable(max_rows=2, display=lambda _: None)
    table.append({"user": "a", "n": 1})
    table.append({"user": "b", "n": 2})
    table.append({"user": "c", "n": 3})
    assert table.columns == ["user", "n"]
    assert table.rows == [["b", 2], ["c", 3]]
    assert "<th>user</th>" in table._repr_html_()


async def test_progress_bar_counts_a_bounded_run(
    make_app: AppFactory, broker: MemoryBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    """run(progress=True) shows a tqdm bar that ends at the number of outputs."""
    fill(broker, "t", range(20))
    app = make_app("bar")

    @app.agent(app.topic("t"))
    async def echo(stream: Stream[int]) -> AsyncIterator[int]:
        async for n in stream:
            yield n

    await app.run(count=20, progress=True, timeout=30)
    err = capsys.readouterr().err
    assert "bar: outputs" in err
    assert "20/20" in err


async def test_an_agent_declared_while_the_app_runs_starts_at_once(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Start the app in one cell, declare an agent in a later one: it runs."""
    fill(broker, "late", [1, 2, 3])
    app = make_app("later-cell")
    await app.start()
    got: list[int] = []

    @app.agent(app.topic("late"))
    async def later(stream: Stream[int]) -> None:
        async for v in stream:
            got.append(v)

    while len(got) < 3:
        await asyncio.sleep(0.05)
    assert later.running
    await app.stop()
    assert got == [1, 2, 3]
