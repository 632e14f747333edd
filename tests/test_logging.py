"""Logging: quiet until asked (the standard library's logging until structlog is
configured), structured once configured, event metadata bound automatically inside
agents, nothing per event at INFO, and aiokafka's lines rendered like ours."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import structlog
from structlog.testing import LogCapture, capture_logs

from rxstreams import ConfigurationError, Stream
from rxstreams.logging import add_event_context, configure, get_logger
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, fill

pytestmark = pytest.mark.looptime

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, as an application would, and return what it
    wrote on stdout and stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=True,
    )


def test_import_prints_nothing() -> None:
    """Importing rxstreams and both adapters writes nothing on stdout or stderr."""
    proc = _python("import rxstreams, rxstreams.cli, rxstreams_memory, rxstreams_kafka")
    assert (proc.stdout, proc.stderr) == ("", "")


_PLAIN_APP = """
    import asyncio
    from rxstreams import App

    app = App("plain", topic_partitions=2)
    orders = app.topic("orders")


    @app.agent(orders)
    async def totals(stream):
        async for order in stream.filter(lambda o: o["amount"] >= 10):
            pass


    async def main():
        for amount in (5, 12, 30):
            await orders.send(key="acct-1", value={"amount": amount})
        await app.run(until_idle=True)


    asyncio.run(main())
"""


def test_a_plain_app_run_prints_nothing() -> None:
    """An app with an agent, run until idle on the embedded broker with nothing
    configured, writes nothing on stdout or stderr (its debug and info lines are dropped)."""
    proc = _python(_PLAIN_APP)
    assert (proc.stdout, proc.stderr) == ("", "")


def test_warnings_reach_stderr_until_configured() -> None:
    """With nothing configured, a warning goes to stderr through logging's last-resort
    handler, as event name and key=value pairs; info is dropped."""
    proc = _python(
        """
        from rxstreams.logging import get_logger

        log = get_logger("rxstreams.probe", app="demo")
        log.info("hidden")
        log.warning("commit_fenced", partitions=[0, 1])
        """
    )
    assert (proc.stdout, proc.stderr) == ("", "commit_fenced app='demo' partitions=[0, 1]\n")


def test_the_cli_configuration_shows_info_of_a_plain_app() -> None:
    """configure() (what the worker command calls) turns the same app's INFO lines on,
    on stderr, and keeps its DEBUG lines off."""
    proc = _python(
        "from rxstreams.logging import configure\nconfigure(json=True)\n"
        + textwrap.dedent(_PLAIN_APP)
    )
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert proc.stdout == ""
    # other lines (rebalances) may come too: these two must be among them
    assert {"app_started", "app_stopped"}.issubset(e["event"] for e in events)
    # and no debug line: only these levels
    assert {e["level"] for e in events}.issubset({"info", "warning", "error"})


async def test_unconfigured_lines_go_to_stdlib_loggers_named_after_modules(
    make_app: AppFactory,
    broker: MemoryBroker,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Until structlog is configured, rxstreams' lines are standard-library records of
    loggers named after their modules, with the bound context; nothing is printed."""
    caplog.set_level(logging.DEBUG)
    fill(broker, "t", [1])
    app = make_app("stdlib")

    @app.agent(app.topic("t"))
    async def sink(stream: Stream[int]) -> None:
        async for _ in stream:
            pass

    await app.run(until_idle=True, timeout=30)
    assert not structlog.is_configured()
    assert capsys.readouterr().out == ""
    names = {r.name for r in caplog.records}
    # modules' loggers among the ones that logged (the group's debug lines come too)
    assert {
        "rxstreams.runtime.worker",
        "rxstreams.runtime.assignment",
        "rxstreams_memory._group",
    }.issubset(names)
    (started,) = [r for r in caplog.records if r.getMessage().startswith("app_started ")]
    assert (started.name, started.levelno, started.funcName) == (
        "rxstreams.runtime.worker",
        logging.INFO,
        "start",
    )
    assert "app='stdlib'" in started.getMessage()
    assert started.__dict__["app"] == "stdlib"  # the keys are record attributes too


async def test_stdlib_lines_inside_an_agent_carry_the_event(
    make_app: AppFactory, broker: MemoryBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Unconfigured, a log line in an agent still gets topic, partition, offset, key and
    agent, and the bound context."""
    caplog.set_level(logging.INFO, logger="shop")
    fill(broker, "t", [10], key=lambda v: f"k{v}")
    app = make_app("stdlib-agent")
    log = get_logger("shop.audit").bind(team="payments")

    @app.agent(app.topic("t"), name="auditor")
    async def audit(stream: Stream[int]) -> None:
        async for v in stream:
            log.info("audited", value=v)

    await app.run(until_idle=True, timeout=30)
    (record,) = [r for r in caplog.records if r.name == "shop.audit"]
    assert record.getMessage() == (
        "audited team='payments' value=10 agent='auditor' topic='t' partition=0 offset=0 key='k10'"
    )
    assert (record.__dict__["topic"], record.__dict__["offset"]) == ("t", 0)


def test_stdlib_exception_lines_carry_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """log.exception() while unconfigured is an ERROR record with the exception."""
    log = get_logger("rxstreams.probe")
    try:
        raise KeyError("lost")
    except KeyError:
        log.exception("lookup_failed", key="k")
    (record,) = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.ERROR, "lookup_failed key='k'")
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError


def test_loggers_follow_structlog_once_configured() -> None:
    """A logger created (and bound) before the application configures structlog logs
    structured events through that configuration, bound context included."""
    log = get_logger("rxstreams.probe", app="demo").bind(topic="orders")
    cap = LogCapture()
    structlog.configure(processors=[cap])
    log.info("offsets_committed", offsets={"orders[0]": 3})
    log.debug("topic_paused", in_flight=2)
    assert cap.entries == [
        {
            "event": "offsets_committed",
            "app": "demo",
            "topic": "orders",
            "offsets": {"orders[0]": 3},
            "log_level": "info",
        },
        {
            "event": "topic_paused",
            "app": "demo",
            "topic": "orders",
            "in_flight": 2,
            "log_level": "debug",
        },
    ]


def test_configured_lines_do_not_reach_stdlib_too(caplog: pytest.LogCaptureFixture) -> None:
    """Once structlog is configured, a line is a structlog event only: the standard
    library's loggers do not get it as well."""
    caplog.set_level(logging.DEBUG)
    configure(file=io.StringIO(), level="DEBUG")
    get_logger("rxstreams.probe").warning("shown_once")
    assert caplog.records == []


def test_lines_that_are_filtered_out_render_nothing() -> None:
    """A line below the level in force does not look at its values, configured or not."""

    class Costly:
        renders = 0

        def __repr__(self) -> str:
            Costly.renders += 1
            return "costly"

    log = get_logger("rxstreams.probe")
    log.debug("per_event", value=Costly())  # stdlib default: WARNING
    configure(file=io.StringIO(), level="INFO")
    log.debug("per_event", value=Costly())
    assert Costly.renders == 0


async def test_user_logs_inside_an_agent_carry_the_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A plain log.info() in an agent gets topic, partition, offset, key and agent."""
    fill(broker, "t", [10, 20], key=lambda v: f"k{v}")
    app = make_app("logs")
    log = get_logger("user")

    @app.agent(app.topic("t"), name="auditor")
    async def audit(stream: Stream[int]) -> None:
        async for v in stream:
            log.info("audited", value=v)

    with capture_logs(processors=[add_event_context]) as logs:
        await app.run(until_idle=True, timeout=30)
    audited = [e for e in logs if e["event"] == "audited"]
    assert [
        (e["topic"], e["partition"], e["offset"], e["key"], e["agent"], e["value"]) for e in audited
    ] == [
        ("t", 0, 0, "k10", "auditor", 10),
        ("t", 0, 1, "k20", "auditor", 20),
    ]


async def test_nothing_is_logged_per_event_at_info(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Processing 500 events logs the same INFO lines as processing 5."""

    async def info_lines(n: int, name: str) -> list[str]:
        fill(broker, name, range(n))
        app = make_app(name)

        @app.agent(app.topic(name))
        async def quiet(stream: Stream[int]) -> None:
            async for _ in stream:
                pass

        with capture_logs() as logs:
            await app.run(until_idle=True, timeout=30)
        return sorted(e["event"] for e in logs if e["log_level"] in ("info", "warning", "error"))

    assert await info_lines(5, "few") == await info_lines(500, "many")


def test_configure_renders_json_lines() -> None:
    """configure(json=True) writes one JSON object per log event, at the chosen level."""
    out = io.StringIO()
    configure(json=True, level="WARNING", file=out)
    log = get_logger("x", app="demo")
    log.info("hidden")
    log.warning("shown", n=1)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["n"], record["app"], record["level"]) == (
        "shown",
        1,
        "demo",
        "warning",
    )
    structlog.reset_defaults()


def test_configure_refuses_an_unknown_level() -> None:
    """A level name that does not exist is a ConfigurationError (a ValueError), not silence."""
    with pytest.raises(ConfigurationError, match="unknown log level") as info:
        configure(level="LOUD")
    assert isinstance(info.value, ValueError)


def test_event_context_outside_an_agent_adds_nothing() -> None:
    """Logging outside an agent works: the processor leaves the log event as it was."""
    with capture_logs(processors=[add_event_context]) as logs:
        get_logger("user").info("outside", n=1)
    assert logs == [{"event": "outside", "n": 1, "log_level": "info"}]


def test_configure_renders_aiokafka_lines_like_ours(caplog: pytest.LogCaptureFixture) -> None:
    """After configure(), aiokafka's warnings are rendered like rxstreams' events, to the
    same file, once (not also through the root logger); its info lines are dropped."""
    out = io.StringIO()
    configure(json=True, level="INFO", file=out)
    aiokafka = logging.getLogger("aiokafka.consumer.group_coordinator")
    aiokafka.info("Discovered coordinator %s", 1)
    aiokafka.warning("Heartbeat failed for group %s", "g1")
    get_logger("rxstreams.probe").warning("consumer_crashed", group_id="g1")
    theirs, ours = (json.loads(line) for line in out.getvalue().splitlines())
    assert (theirs["event"], theirs["level"], theirs["logger"]) == (
        "Heartbeat failed for group g1",
        "warning",
        "aiokafka.consumer.group_coordinator",
    )
    # rendered alike: theirs has every key of ours but our own context (event, level, ...)
    assert (set(ours) - {"group_id"}).issubset(theirs)
    assert caplog.records == []


def test_configure_shows_aiokafka_debug_only_at_debug() -> None:
    """aiokafka stays at WARNING at level INFO, and follows the level when it is DEBUG."""
    aiokafka = logging.getLogger("aiokafka.conn")
    out = io.StringIO()
    configure(level="INFO", file=out)
    aiokafka.debug("Sending request %s", "MetadataRequest")
    aiokafka.info("Closing connection")
    assert out.getvalue() == ""
    configure(level="DEBUG", file=out)
    aiokafka.debug("Sending request %s", "MetadataRequest")
    assert "Sending request MetadataRequest" in out.getvalue()
    assert "[aiokafka.conn]" in out.getvalue()  # the console renderer's logger name


def test_configure_twice_does_not_double_aiokafka_lines() -> None:
    """Calling configure() again replaces its aiokafka handler: each line is written
    once, to the file of the last call."""
    first, second = io.StringIO(), io.StringIO()
    configure(file=first)
    configure(json=True, file=second)
    logging.getLogger("aiokafka").error("Unable to connect")
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert json.loads(line)["event"] == "Unable to connect"
