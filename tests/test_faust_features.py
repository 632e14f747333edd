"""docs/faust.md lists every Faust feature with its status here; each line is run.

A line marked *same* or *different* runs its probe: the feature used as written, with
what it does checked. A line marked *not here* or *not yet* must fail at once, with an
``UnsupportedFeatureError`` or a ``ConfigurationError`` saying what the *Here* column says.
Every line has a probe and every probe a line, so the page cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union  # noqa: UP035

import pytest

import rxstreams
from rxstreams import (
    App,
    ConfigurationError,
    Record,
    Stream,
    TopicPartition,
    UnsupportedFeatureError,
)
from rxstreams.settings import Settings
from tests.helpers import AppFactory

pytestmark = pytest.mark.looptime  # join windows and idle detection in virtual time

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "faust.md"
SECTION = "## Every Faust feature, and its status here"
STATUSES = {"same", "different", "not here", "not yet"}
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Line:
    faust: str
    status: str
    here: str

    @property
    def hint(self) -> str:
        """What the error must say: the first piece of code of *Here*, or its text."""
        code = _CODE.search(self.here)
        return code.group(1) if code else self.here


def lines() -> list[Line]:
    text = PAGE.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    found = []
    for row in text[start : end if end >= 0 else None].splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Faust", "---"):
            continue
        found.append(Line(*cells))
    return found


Probe = Callable[[AppFactory], Awaitable[Any]]
PROBES: dict[str, Probe] = {}


def probe(faust: str) -> Callable[[Probe], Probe]:
    def register(fun: Probe) -> Probe:
        assert faust not in PROBES, faust
        PROBES[faust] = fun
        return fun

    return register


async def run_agent(app: App, values: list[Any], body: Callable[[Stream[Any]], Any]) -> Any:
    """Send ``values`` to a fresh topic, run ``body`` as its agent until idle; its yields."""
    topic = app.topic("probe-in")
    for value in values:
        await topic.send(value=value)
    app.agent(topic, name="probe")(body)
    result = await app.run(until_idle=True, timeout=30)
    return result.all


# -- the app ------------------------------------------------------------------------------------


@probe('`faust.App("id", broker="kafka://...")`')
async def _app(make_app: AppFactory) -> None:
    app = App("probe")
    assert app.conf.broker == "memory://"
    assert App("probe", broker="kafka://127.0.0.1:9092").conf.broker.startswith("kafka://")


@probe("`app.topic(name, key_type=, value_type=, partitions=)`")
async def _topic(make_app: AppFactory) -> None:
    class Point(Record):
        x: int

    app = make_app()
    topic = app.topic("points", key_type=str, value_type=Point, partitions=3)
    assert topic.spec().partitions == 3
    assert app.topic("points") is topic


@probe("`app.channel()`")
async def _channel(make_app: AppFactory) -> None:
    app = make_app()
    channel = app.channel()
    thing = object()
    await channel.send(value=thing)

    async def body(stream: Stream[Any]) -> Any:
        async for value in stream:
            yield value is thing

    app.agent(channel)(body)
    assert (await app.run(until_idle=True, timeout=30)).all == [True]


@probe("`@app.agent(channel)`")
async def _agent(make_app: AppFactory) -> None:
    async def body(stream: Stream[Any]) -> Any:
        async for value in stream:
            yield value * 2

    assert await run_agent(make_app(), [1, 2], body) == [2, 4]


@probe("`@app.agent()`")
async def _agent_default_topic(make_app: AppFactory) -> None:
    app = make_app()

    @app.agent()
    async def doubler(stream: Stream[Any]) -> Any:
        async for value in stream:
            yield value * 2

    assert doubler.channel.name == doubler.name.replace(".<locals>", "")  # a valid topic name
    await doubler.send(value=21)
    assert (await app.run(until_idle=True, timeout=30)).all == [42]


@probe('`@app.agent("topic-name")`')
async def _agent_topic_name(make_app: AppFactory) -> None:
    app = make_app()
    await app.topic("named").send(value=1)
    app.agent("named", name="named-agent")(_yield_all)
    assert (await app.run(until_idle=True, timeout=30)).all == [1]


@probe("`@app.agent(...)` on a plain `def`")
async def _plain_def(make_app: AppFactory) -> None:
    def plain(stream: Stream[Any]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="async def"):
        make_app().agent("t")(plain)


@probe("`@app.task`, `@app.timer(interval)`, `@app.crontab(cron)`")
async def _timers(make_app: AppFactory) -> None:
    app = make_app()
    ran: list[str] = []

    @app.task
    async def once() -> None:
        ran.append("task")

    app.timer(3600)(once)
    app.crontab("0 0 * * *")(once)
    await app.run(until_idle=True, timeout=30)
    assert ran == ["task"]  # the timer and the crontab are not due yet


@probe("`app.conf`")
async def _conf(make_app: AppFactory) -> None:
    app = make_app(commit_interval=2.5)
    assert isinstance(app.conf, Settings)
    assert app.conf.commit_interval == 2.5


@probe("`app.is_leader()`")
async def _is_leader(make_app: AppFactory) -> None:
    app = make_app()
    with pytest.raises(UnsupportedFeatureError, match=r"app\.leader\.is_leader"):
        app.is_leader()  # type: ignore[attr-defined]
    assert app.leader.is_leader is False  # no election ran


def _refused(name: str) -> Probe:
    async def access(make_app: AppFactory) -> None:
        getattr(make_app(), name)

    return access


for faust, name in [
    ("`app.GlobalTable(...)`, `app.SetTable(...)`", "GlobalTable"),
    ("`@app.page(path)`, `app.web`", "page"),
    ("`app.monitor`, `app.sensors`", "monitor"),
    ("`app.service(...)`", "service"),
    ("`app.Worker(...)`", "Worker"),
    ("`app.discover()`", "discover"),
    ("`app.producer`, `app.consumer`", "producer"),
    ("`app.send(channel, key=, value=)`", "send"),
    ("`app.stream(channel)`", "stream"),
    ("`@app.on_configured.connect`", "on_configured"),
    ("`app.on_rebalance_complete`", "on_rebalance_complete"),
    ("`app.on_worker_init`", "on_worker_init"),
]:
    probe(faust)(_refused(name))


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@probe("`app.main()`")
async def _main(make_app: AppFactory) -> None:
    out = _cli("tests/apps/commands.py", "send", "@shout", "ann")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["topic"] == "names"


@probe("`@app.command(option(...))`")
async def _command(make_app: AppFactory) -> None:
    out = _cli("tests/apps/commands.py", "greet", "ann", "--times", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["hello ann", "hello ann"]


@probe("`@app.on_started`, `@app.on_stopped`")
async def _started_stopped(make_app: AppFactory) -> None:
    app = make_app()
    calls: list[str] = []

    @app.on_started
    async def started() -> None:
        calls.append("started")

    @app.on_stopped
    async def stopped() -> None:
        calls.append("stopped")

    await app.run(until_idle=True, timeout=30)
    assert calls == ["started", "stopped"]


@probe("`app.on_partitions_assigned.connect`, `app.on_partitions_revoked.connect`")
async def _partition_signals(make_app: AppFactory) -> None:
    app = make_app()
    calls: list[tuple[str, set[TopicPartition]]] = []

    @app.agent(app.topic("signalled"))
    async def idle(stream: Stream[Any]) -> None:
        async for _ in stream:
            pass

    @app.on_partitions_assigned.connect
    async def assigned(sender: App, partitions: set[TopicPartition], **kwargs: Any) -> None:
        calls.append(("assigned", partitions))

    @app.on_partitions_revoked.connect
    def revoked(sender: App, partitions: set[TopicPartition], **kwargs: Any) -> None:
        calls.append(("revoked", partitions))

    await app.run(until_idle=True, timeout=30)
    tps = {TopicPartition("signalled", 0)}
    assert calls == [("assigned", tps), ("revoked", tps)]


@probe("`app.on_startup_finished = fun`")
async def _startup_finished(make_app: AppFactory) -> None:
    app = make_app()
    calls: list[str] = []

    async def finished() -> None:
        calls.append(app.state)

    app.on_startup_finished = finished
    await app.run(until_idle=True, timeout=30)
    assert calls == ["running"]


# -- the command line ---------------------------------------------------------------------------


@probe("`faust -A proj worker -l info`")
async def _cli_worker(make_app: AppFactory) -> None:
    out = _cli("-P", "-m", "rxstreams", "-A", "tests.apps.commands:app", "-l", "info", "topics")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["names\tpartitions=1"]


@probe("`faust -A proj send @agent VALUE`")
async def _cli_send(make_app: AppFactory) -> None:
    out = _cli("-m", "rxstreams", "-A", "tests.apps.commands:app", "send", "@shout", "bo")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["topic"] == "names"
    assert "lives only in this process" in out.stderr


@probe("`faust -A proj COMMAND` (an `@app.command()`)")
async def _cli_command(make_app: AppFactory) -> None:
    out = _cli("-m", "rxstreams", "-A", "tests.apps.commands:app", "names")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["shout"]


# -- settings -----------------------------------------------------------------------------------


def _setting(**settings: Any) -> Probe:
    async def create(make_app: AppFactory) -> None:
        App("probe", **settings)

    return create


for faust, settings in [
    ("`App(..., broker_commit_interval=)`", {"broker_commit_interval": 1.0}),
    ("`App(..., broker_commit_every=)`", {"broker_commit_every": 10}),
    ("`App(..., consumer_auto_offset_reset=)`", {"consumer_auto_offset_reset": "latest"}),
    ("`App(..., web_port=)`", {"web_port": 6066}),
    ("`App(..., timezone=)`", {"timezone": "Europe/Paris"}),
    ("`App(..., ssl_context=)`", {"ssl_context": None}),
]:
    probe(faust)(_setting(**settings))


@probe('`App(..., store="rocksdb://")`')
async def _rocksdb_store(make_app: AppFactory) -> None:
    make_app(store="rocksdb:///tmp/probe").Table("t")


@probe("`app.Table(name, default=int)`, `table[k] += 1`")
async def _table(make_app: AppFactory) -> None:
    app = make_app()
    counts = app.Table("counts", default=int)

    async def body(stream: Stream[Any]) -> Any:
        async for word in stream:
            counts[word] += 1
            yield counts[word]

    assert await run_agent(app, ["a", "b", "a"], body) == [1, 1, 2]


@probe(
    "`table.tumbling(size, expires=)`, `.hopping(size, step, expires=)`, "
    "`t[k].current()`, `.now()`, `.value()`, `.delta(d)`"
)
async def _windowed(make_app: AppFactory) -> None:
    app = make_app()
    views = app.Table("views", default=int).tumbling(60.0, expires=3600)
    hops = app.Table("hops", default=int).hopping(60.0, 30.0)

    async def body(stream: Stream[Any]) -> Any:
        async for page in stream:
            views[page] += 1
            hops[page] += 1
            yield (views[page].current(), views[page].value(), hops[page].delta(30))

    assert await run_agent(app, ["a", "a"], body) == [(1, 1, 1), (2, 2, 2)]


@probe('`App(..., processing_guarantee="exactly_once")`')
async def _exactly_once(make_app: AppFactory) -> None:
    app = App("probe", processing_guarantee="exactly_once")
    assert app.conf.exactly_once
    assert app.conf.consumer_config().isolation_level == "read_committed"


@probe(
    "`App(..., broker_credentials=SASLCredentials(...))`, `SSLCredentials(...)` or an "
    "`ssl.SSLContext`"
)
async def _broker_credentials(make_app: AppFactory) -> None:
    sasl = rxstreams.SASLCredentials(
        username="key",
        password="s3cret",
        mechanism="scram-sha-512",
        ssl_context=ssl.create_default_context(),
    )
    app = make_app(broker_credentials=sasl)
    assert (sasl.protocol, sasl.mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert "s3cret" not in repr(app.conf)
    assert "password='***'" in repr(app.conf)

    async def body(stream: Stream[Any]) -> Any:
        async for value in stream:
            yield value

    assert await run_agent(app, [1], body) == [1]  # memory:// ignores them
    context = ssl.create_default_context()
    tls = make_app("tls", broker_credentials=context).conf.broker_credentials
    assert isinstance(tls, rxstreams.SSLCredentials)
    assert (tls.context, tls.protocol) == (context, "SSL")


@probe("`App(..., topic_partitions=, stream_buffer_maxsize=, producer_acks=)`")
async def _same_settings(make_app: AppFactory) -> None:
    app = App("probe", topic_partitions=3, stream_buffer_maxsize=100, producer_acks=1)
    assert (app.conf.topic_partitions, app.conf.stream_buffer_maxsize) == (3, 100)
    assert app.conf.producer_acks == 1


@probe("an unknown setting")
async def _unknown_setting(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match=r"known: .*commit_interval"):
        App("probe", no_such_setting=1)


# -- agents -------------------------------------------------------------------------------------


def _echo_agent(app: App) -> Any:
    @app.agent(app.topic("requests"))
    async def echo(stream: Stream[Any]) -> Any:
        async for value in stream:
            yield value

    return echo


@probe("`agent.send(value=, key=, partition=)`")
async def _agent_send(make_app: AppFactory) -> None:
    app = make_app()
    echo = _echo_agent(app)
    await echo.send(value=1, key="k", partition=0)
    assert (await app.run(until_idle=True, timeout=30)).all == [1]


@probe("`await agent.ask(value)`")
async def _agent_ask(make_app: AppFactory) -> None:
    app = make_app()
    echo = _echo_agent(app)
    with pytest.raises(rxstreams.AppStateError):
        await echo.ask(value=1)  # the app is not running: at once, not after the timeout
    async with app:
        assert await echo.ask(value={"n": 1}) == {"n": 1}


@probe("`agent.map(values)`, `agent.kvmap(items)`")
async def _agent_map(make_app: AppFactory) -> None:
    app = make_app()
    echo = _echo_agent(app)
    async with app:
        assert sorted([r async for r in echo.map([1, 2])]) == [1, 2]
        assert [r async for r in echo.kvmap([("k", 3)])] == [3]


@probe("`agent.join(values)`, `agent.kvjoin(items)`")
async def _agent_join(make_app: AppFactory) -> None:
    app = make_app()
    echo = _echo_agent(app)
    async with app:
        assert await echo.join([1, 2, 3]) == [1, 2, 3]
        assert await echo.kvjoin([("a", 4), ("b", 5)]) == [4, 5]


@probe("`agent.test_context()`")
async def _agent_test_context(make_app: AppFactory) -> None:
    async with _echo_agent(make_app()).test_context() as tested:
        event = await tested.put(value="x")
        assert event.message is not None
        assert tested.results == {event.message.offset: "x"}


@probe("`agent.cast(value)`")
async def _agent_cast(make_app: AppFactory) -> None:
    app = make_app()
    echo = _echo_agent(app)

    @app.task
    async def go() -> None:
        echo.cast(value=5)  # from sync code as well: it returns the scheduled send

    assert (await app.run(until_idle=True, timeout=30)).all == [5]


@probe("`agent.ask_nowait(value)`")
async def _ask_nowait(make_app: AppFactory) -> None:
    getattr(_echo_agent(make_app()), "ask_nowait")  # noqa: B009 (the access is the probe)


@probe("`agent.add_sink(sink)`")
async def _add_sink(make_app: AppFactory) -> None:
    getattr(_echo_agent(make_app()), "add_sink")  # noqa: B009 (the access is the probe)


@probe("an agent that raises")
async def _agent_raises(make_app: AppFactory) -> None:
    async def body(stream: Stream[Any]) -> None:
        async for _ in stream:
            raise KeyError("boom")

    with pytest.raises(rxstreams.AgentError):
        await run_agent(make_app(), [1], body)


@probe("`@app.agent(concurrency=N)`")
async def _concurrency(make_app: AppFactory) -> None:
    app = make_app()
    topic = app.topic("work")
    for n in range(6):
        await topic.send(value=n)

    @app.agent(topic, concurrency=3)
    async def work(stream: Stream[int]) -> Any:
        async for value in stream:
            yield value

    assert sorted((await app.run(until_idle=True, timeout=30)).all) == list(range(6))


# -- streams ------------------------------------------------------------------------------------


async def _yield_all(stream: Stream[Any]) -> Any:
    async for value in stream:
        yield value


@probe("`async for value in stream`")
async def _iterate(make_app: AppFactory) -> None:
    assert await run_agent(make_app(), [1, 2, 3], _yield_all) == [1, 2, 3]


@probe("`stream.events()`, `stream.items()`")
async def _events_items(make_app: AppFactory) -> None:
    async def body(stream: Stream[Any]) -> Any:
        async for event in stream.events():
            yield (event.key, event.value)

    assert await run_agent(make_app(), [7], body) == [(None, 7)]
    app = make_app("items")
    topic = app.topic("kv")
    await topic.send(key="a", value=1)

    @app.agent(topic)
    async def items(stream: Stream[Any]) -> Any:
        async for key, value in stream.items():
            yield (key, value)

    assert (await app.run(until_idle=True, timeout=30)).all == [("a", 1)]


@probe("`stream.filter(fun)`")
async def _filter(make_app: AppFactory) -> None:
    async def body(stream: Stream[int]) -> Any:
        async for value in stream.filter(lambda n: n % 2 == 0):
            yield value

    assert await run_agent(make_app(), [1, 2, 3, 4], body) == [2, 4]


@probe("`stream.take(max_, within=)`")
async def _take(make_app: AppFactory) -> None:
    async def body(stream: Stream[int]) -> Any:
        async for value in stream.take(2):
            yield value

    assert await run_agent(make_app(), [1, 2, 3], body) == [1, 2]


@probe("`stream.take_events(max_, within)`")
async def _take_events(make_app: AppFactory) -> None:
    async def body(stream: Stream[int]) -> Any:
        async for events in stream.take_events(2, within=1):
            yield [e.value for e in events]

    assert await run_agent(make_app(), [1, 2, 3], body) == [[1, 2], [3]]


@probe("`stream.noack()`, `stream.ack(event)`")
async def _noack(make_app: AppFactory) -> None:
    async def body(stream: Stream[int]) -> Any:
        quiet = stream.noack()
        async for event in quiet.events():
            yield quiet.ack(event)

    assert await run_agent(make_app(), [1], body) == [True]


@probe("`stream.enumerate()`")
async def _enumerate(make_app: AppFactory) -> None:
    async def body(stream: Stream[str]) -> Any:
        async for pair in stream.enumerate():
            yield pair

    assert await run_agent(make_app(), ["a", "b"], body) == [(0, "a"), (1, "b")]


@probe("`stream.group_by(key, name=)`")
async def _group_by(make_app: AppFactory) -> None:
    seen: dict[str, list[int]] = {}

    async def body(stream: Stream[dict[str, Any]]) -> None:
        async def per_user(user: str, values: Stream[dict[str, Any]]) -> None:
            async for value in values:
                seen.setdefault(user, []).append(value["n"])

        await stream.group_by(lambda v: v["user"], name="by-user").each(per_user)

    values = [{"user": u, "n": n} for n, u in enumerate("abab")]
    await run_agent(make_app(), values, body)
    assert seen == {"a": [0, 2], "b": [1, 3]}


@probe("`stream.through(topic)`")
async def _through(make_app: AppFactory) -> None:
    app = make_app()
    other = app.topic("other")

    async def body(stream: Stream[int]) -> Any:
        async for value in stream.through(other):
            yield value

    assert await run_agent(app, [1, 2], body) == [1, 2]


@probe('`stream.through("name")` on a topic of Records')
async def _through_name(make_app: AppFactory) -> None:
    app = make_app()
    words = app.topic("probe-words", value_type=_Word)
    await words.send(value=_Word("a", 2))

    @app.agent(words)
    async def copy(stream: Stream[_Word]) -> Any:
        async for w in stream.through("words-copy"):
            yield w

    assert (await app.run(until_idle=True, timeout=30)).all == [_Word("a", 2)]


@probe("`stream.echo(*channels)`")
async def _echo(make_app: AppFactory) -> None:
    app = make_app()
    copy = app.topic("copy")

    async def body(stream: Stream[int]) -> Any:
        async for value in stream.echo(copy):
            yield f"in {value}"

    app.agent(copy, name="copies")(_yield_all)
    assert sorted(map(str, await run_agent(app, [1], body))) == ["1", "in 1"]


@probe("`stream.join(other)`")
async def _join(make_app: AppFactory) -> None:
    app = make_app()
    left, right = app.topic("left"), app.topic("right")
    await left.send(key="k", value="l")
    await right.send(key="k", value="r")

    @app.agent(left)
    async def joined(stream: Stream[str]) -> Any:
        async for pair in stream.join(right.stream(), within=10):
            yield pair

    assert (await app.run(until_idle=True, timeout=30)).all == [("l", "r")]


@probe("`stream.combine(*others)`")
async def _combine(make_app: AppFactory) -> None:
    app = make_app()
    a, b = app.topic("a"), app.topic("b")
    await a.send(value=1)
    await b.send(value=2)

    @app.agent(a)
    async def both(stream: Stream[int]) -> Any:
        async for value in stream.combine(b.stream()):
            yield value

    assert sorted((await app.run(until_idle=True, timeout=30)).all) == [1, 2]


def _stream_refused(name: str) -> Probe:
    async def access(make_app: AppFactory) -> None:
        getattr(make_app().topic("t").stream(), name)

    return access


for faust, name in [
    ("`stream.take_with_timestamp(...)`", "take_with_timestamp"),
    ("`stream.noack_take(...)`", "noack_take"),
    ("`stream.left_join(other)`, `stream.outer_join(other)`", "left_join"),
    ("`stream.derive_topic(name)`", "derive_topic"),
    ("`stream.add_processor(fun)`", "add_processor"),
]:
    probe(faust)(_stream_refused(name))

# -- events -------------------------------------------------------------------------------------


@probe("`faust.current_event()`")
async def _current_event(make_app: AppFactory) -> None:
    with pytest.raises(rxstreams.NoCurrentEventError):
        rxstreams.current_event()

    async def body(stream: Stream[int]) -> Any:
        async for value in stream:
            yield (value, rxstreams.current_event().value)

    assert await run_agent(make_app(), [3], body) == [(3, 3)]


@probe("`event.ack()`")
async def _ack(make_app: AppFactory) -> None:
    async def body(stream: Stream[int]) -> Any:
        async for event in stream.events():
            yield (event.ack(), event.ack())

    assert await run_agent(make_app(), [1], body) == [(True, False)]


@probe("`event.send(channel, ...)`, `event.forward(channel)`")
async def _event_send(make_app: AppFactory) -> None:
    app = make_app()
    out = app.topic("out")

    async def body(stream: Stream[int]) -> None:
        async for event in stream.events():
            await event.forward(out)
            await event.send(out, value=event.value * 10)

    app.agent(out, name="out")(_yield_all)
    assert await run_agent(app, [4], body) == [4, 40]


@probe("`event.headers`")
async def _headers(make_app: AppFactory) -> None:
    app = make_app()
    topic = app.topic("h")
    await topic.send(value=1, headers={"text": "é", "blob": b"\xff"})

    @app.agent(topic)
    async def read(stream: Stream[int]) -> Any:
        async for event in stream.events():
            yield event.headers

    assert (await app.run(until_idle=True, timeout=30)).all == [{"text": "é", "blob": b"\xff"}]


# -- topics and channels ------------------------------------------------------------------------


@probe("`await topic.send(key=, value=, partition=, headers=)`")
async def _topic_send(make_app: AppFactory) -> None:
    app = make_app()
    topic = app.topic("t")
    sent = await topic.send(key="k", value=1, partition=0, headers={"h": "v"})
    metadata = await sent  # as in Faust: awaiting send() hands it over; this is delivery
    assert (metadata.topic, metadata.partition) == ("t", 0)


def _topic_refused(name: str) -> Probe:
    async def access(make_app: AppFactory) -> None:
        getattr(make_app().topic("t"), name)

    return access


for faust, name in [
    ("`topic.send_soon(...)`", "send_soon"),
    ("`topic.maybe_declare()`, `topic.declare()`", "maybe_declare"),
    ("`topic.derive(...)`", "derive"),
    ("`topic.pattern`", "pattern"),
]:
    probe(faust)(_topic_refused(name))

# -- records and serializers --------------------------------------------------------------------


@probe("`class Point(faust.Record): x: int`")
async def _record(make_app: AppFactory) -> None:
    class Point(Record):
        x: int

    assert Point.loads(b'{"x": 1}') == Point(x=1)
    with pytest.raises(rxstreams.RecordError, match="x"):
        Point.loads(b'{"x": "one"}')


class _Word(Record):
    word: str
    count: int = 1


@probe("`Word.word` (a field on the class)")
async def _descriptor(make_app: AppFactory) -> None:
    app = make_app()
    words = app.topic("words", value_type=_Word)
    for w in ("a", "b", "a"):
        await words.send(value=_Word(w))
    assert _Word.word(_Word("x")) == "x"
    counts: dict[str, int] = {}

    @app.agent(words)
    async def count(stream: Stream[_Word]) -> None:
        async def per_word(word: str, ws: Stream[_Word]) -> None:
            async for w in ws:
                assert type(w) is _Word
                counts[word] = counts.get(word, 0) + w.count

        await stream.group_by(_Word.word, name="by-word").each(per_word)

    await app.run(until_idle=True, timeout=30)
    assert counts == {"a": 2, "b": 1}


@probe(
    "`x: Union[int, str]`, `Optional[X]`, `List[Point]`, `Tuple[int, ...]`, `Dict[int, str]` fields"
)
async def _field_types(make_app: AppFactory) -> None:
    class Point(Record):
        x: Union[int, str]  # noqa: UP007  (Faust's spelling)
        y: Optional[float] = None  # noqa: UP045
        near: List[_Word] = dataclasses.field(default_factory=list)  # noqa: UP006
        path: Tuple[int, ...] = ()  # noqa: UP006
        names: Dict[int, str] = dataclasses.field(default_factory=dict)  # noqa: UP006

    p = Point(x="1.5", near=[_Word("a")], path=(1, 2), names={1: "one"})
    assert Point.loads(p.dumps()) == p
    assert Point.loads(b'{"x": 2, "names": {"3": "c"}}').names == {3: "c"}
    with pytest.raises(rxstreams.RecordError, match="x"):
        Point.from_data({"x": [1]})
    with pytest.raises(rxstreams.ArgumentTypeError, match="could not be told from a str"):
        type("Either", (Record,), {"__annotations__": {"v": Union[datetime, str]}})  # noqa: UP007


class _Count(Record):
    word: str
    n: int


@probe("`stream.group_by(Point.x, name=)` after `stream.map(...)`")
async def _group_mapped(make_app: AppFactory) -> None:
    app = make_app()
    words = app.topic("probe-words", value_type=_Word)
    for w in ("a", "b", "a"):
        await words.send(value=_Word(w))
    seen: list[_Count] = []

    @app.agent(words)
    async def count(stream: Stream[_Word]) -> None:
        async def per_word(word: str, counts: Stream[_Count]) -> None:
            async for c in counts:
                seen.append(c)

        counts = stream.map(lambda w: _Count(w.word, w.count))
        await counts.group_by(_Count.word, name="by-word").each(per_word)

    await app.run(until_idle=True, timeout=30)
    assert sorted(c.word for c in seen) == ["a", "a", "b"]
    assert all(type(c) is _Count for c in seen)


@probe("`Record.from_data(data)`, `record.asdict()`, `record.to_representation()`")
async def _from_data(make_app: AppFactory) -> None:
    w = _Word.from_data({"word": "a", "count": 2})
    assert w.asdict() == {"word": "a", "count": 2} == w.to_representation()
    with pytest.raises(rxstreams.RecordError, match="count"):
        _Word.from_data({"word": "a", "count": "two"})


@probe("`record.validate()`, `record.is_valid()`, `record.validate_or_raise()`")
async def _validate(make_app: AppFactory) -> None:
    w = _Word("a")
    assert w.validate() == []
    assert w.is_valid()
    w.count = "two"  # type: ignore[assignment]
    assert not w.is_valid()
    assert isinstance(w.validate()[0], rxstreams.RecordError)
    with pytest.raises(rxstreams.RecordError, match="count"):
        w.validate_or_raise()


@probe(
    '`class Point(faust.Record, serializer="json", validation=True, include_metadata=False, '
    "isodates=True)`"
)
async def _options(make_app: AppFactory) -> None:
    class Point(Record, serializer="json", validation=True, include_metadata=False, isodates=True):
        x: int

    with pytest.raises(rxstreams.RecordError, match="x"):
        Point(x="one")  # type: ignore[arg-type]

    class Loose(Record, validation=False):
        x: int

    loose = Loose(x="one")  # type: ignore[arg-type]
    with pytest.raises(rxstreams.RecordError, match="x"):
        await make_app().topic("loose", value_type=Loose).send(value=loose)


@probe('`class Point(faust.Record, namespace="x")`, `include_metadata=True`')
async def _namespace(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError, match="remove it"):

        class Meta(Record, include_metadata=True):
            x: int

    class Point(Record, namespace="x"):  # type: ignore[call-arg]
        x: int


@probe("`value_type=int`, `float`, `str`, `bytes`")
async def _scalar_types(make_app: AppFactory) -> None:
    app = make_app()
    for kind, value in ((int, 3), (float, 1.5), (str, "é"), (bytes, b"\x00")):
        topic = app.topic(f"typed-{kind.__name__}", value_type=kind)
        assert topic.value_codec.loads(topic.value_codec.dumps(value)) == value
        with pytest.raises(rxstreams.CodecError):
            await topic.send(value=[value])
    with pytest.raises(rxstreams.CodecError):
        await app.topic("typed-bytes").send(value="text")


@probe('`value_serializer="json"`, `"raw"`')
async def _serializers(make_app: AppFactory) -> None:
    app = make_app()
    assert app.topic("j", value_serializer="json").value_codec.loads(b"[1]") == [1]
    assert app.topic("r", value_serializer="raw").value_codec.loads(b"\x00") == b"\x00"


@probe('`value_serializer="pickle"`')
async def _pickle(make_app: AppFactory) -> None:
    make_app().topic("p", value_serializer="pickle")


# -- the tests ----------------------------------------------------------------------------------


def test_every_line_has_a_probe_and_every_probe_a_line() -> None:
    faust = [line.faust for line in lines()]
    assert len(faust) == len(set(faust))
    assert set(faust) == set(PROBES)
    assert {line.status for line in lines()}.issubset(STATUSES)  # not every status is used


@pytest.mark.parametrize("line", lines(), ids=lambda line: line.faust)
async def test_line(line: Line, make_app: AppFactory) -> None:
    run = PROBES[line.faust]
    if line.status in ("same", "different"):
        await run(make_app)
        return
    with pytest.raises((UnsupportedFeatureError, ConfigurationError)) as raised:
        await run(make_app)
    assert line.hint in str(raised.value)
