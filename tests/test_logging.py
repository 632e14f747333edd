"""Logging: event metadata bound automatically inside agents; nothing per event at INFO."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from structlog.testing import capture_logs

from rxstreams import ConfigurationError, Stream
from rxstreams.logging import add_event_context, configure, get_logger
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, fill

pytestmark = pytest.mark.looptime


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
