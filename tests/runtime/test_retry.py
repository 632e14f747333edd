"""Retries with backoff, and the outage's two log lines, in virtual time."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
import structlog

from rxstreams.errors import (
    AgentError,
    BrokerUnavailableError,
    CommitFailedError,
    ConfigurationError,
    TransportError,
)
from rxstreams.runtime.retry import Backoff, Outage, retrying

pytestmark = pytest.mark.looptime


class Flaky:
    """A broker call that fails with ``error`` until ``up_at`` (loop time), then answers."""

    def __init__(self, up_at: float, error: Exception | None = None) -> None:
        self.up_at = up_at
        self.error = error or BrokerUnavailableError("no answer")
        self.calls: list[float] = []

    async def __call__(self, value: str = "ok") -> str:
        now = asyncio.get_running_loop().time()
        self.calls.append(now)
        if now < self.up_at:
            raise self.error
        return value


def _outage_lines(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] in ("broker_unavailable", "broker_available")]


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    """Without jitter the delays are initial, initial * m, ... and then the maximum."""
    delays = Backoff(initial=0.5, maximum=3.0, multiplier=2.0, jitter=0.0).delays()
    assert list(itertools.islice(delays, 6)) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_shortens_each_delay_by_at_most_its_fraction() -> None:
    """With jitter j a delay d is drawn from [d * (1 - j), d]: never above the cap."""
    backoff = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.5)
    drawn = list(itertools.islice(backoff.delays(random.Random(7)), 200))
    bases = [1.0, 2.0] + [4.0] * 198
    assert all(base / 2 <= d <= base for d, base in zip(drawn, bases, strict=True))
    assert len(set(drawn)) == len(drawn)  # not all workers wait the same
    assert list(itertools.islice(backoff.delays(random.Random(7)), 200)) == drawn


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0},
        {"initial": 2.0, "maximum": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_a_backoff_that_makes_no_sense_is_refused(kwargs: dict[str, float]) -> None:
    """Zero or negative delays, a shrinking multiplier, jitter outside [0, 1]."""
    with pytest.raises(ConfigurationError):
        Backoff(**kwargs)


async def test_retriable_errors_are_retried_until_the_call_succeeds() -> None:
    """The call is made again after each delay; its result is returned in the end."""
    outage = Outage(Backoff(initial=1.0, maximum=4.0, jitter=0.0))
    call = Flaky(up_at=10.0)
    assert await retrying(outage, "fetch", call, "batch") == "batch"
    assert call.calls == [0.0, 1.0, 3.0, 7.0, 11.0]
    assert not outage.down


async def test_an_outage_logs_one_line_when_it_starts_and_one_when_it_ends() -> None:
    """However many retries, a warning at the first failure and an info with down_for."""
    outage = Outage(Backoff(initial=0.5, maximum=2.0, jitter=0.0))
    with structlog.testing.capture_logs() as logs:
        await retrying(outage, "commit", Flaky(up_at=20.0))
    lines = _outage_lines(logs)
    assert [(e["event"], e["log_level"]) for e in lines] == [
        ("broker_unavailable", "warning"),
        ("broker_available", "info"),
    ]
    assert lines[0]["operation"] == "commit"
    assert lines[0]["error"] == "no answer"
    assert lines[1]["down_for"] == 21.5  # failed at 0, 0.5, 1.5, 3.5, ... 19.5; up at 21.5
    assert outage.count == 1
    retries = [e for e in logs if e["event"] == "broker_call_retrying"]
    assert len(retries) == 12
    assert {e["log_level"] for e in retries} == {"debug"}


async def test_the_outage_ends_only_when_every_failed_operation_succeeded() -> None:
    """A fetch that works again does not end it while commits still fail; then one line."""
    outage = Outage(Backoff(initial=1.0, maximum=1.0, jitter=0.0))
    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(
            retrying(outage, "fetch", Flaky(up_at=3.0)),
            retrying(outage, "commit", Flaky(up_at=8.0)),
        )
        # an operation that never failed neither starts nor ends anything
        await retrying(outage, "fetch_committed", Flaky(up_at=0.0))
    lines = _outage_lines(logs)
    assert [e["event"] for e in lines] == ["broker_unavailable", "broker_available"]
    assert lines[1]["operation"] == "commit"
    assert lines[1]["down_for"] == 8.0
    assert not outage.down


async def test_each_outage_is_logged_on_its_own() -> None:
    """A second outage after recovery logs its own pair of lines."""
    outage = Outage(Backoff(initial=1.0, jitter=0.0))
    with structlog.testing.capture_logs() as logs:
        await retrying(outage, "fetch", Flaky(up_at=2.0))
        await asyncio.sleep(10)
        await retrying(outage, "fetch", Flaky(up_at=15.0))
    assert [e["event"] for e in _outage_lines(logs)] == [
        "broker_unavailable",
        "broker_available",
        "broker_unavailable",
        "broker_available",
    ]
    assert outage.count == 2


@pytest.mark.parametrize(
    "error",
    [
        BrokerUnavailableError("closed on purpose", retriable=False),
        CommitFailedError("fenced"),
        TransportError("refused"),
        AgentError("not a transport error"),
        KeyError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_other_errors_are_raised_at_once(error: Exception) -> None:
    """Only retriable TransportErrors are waited out: the rest crash the caller as before."""
    outage = Outage()
    call = Flaky(up_at=100.0, error=error)
    with structlog.testing.capture_logs() as logs, pytest.raises(type(error)) as info:
        await retrying(outage, "commit", call)
    assert info.value is error
    assert call.calls == [0.0]
    assert _outage_lines(logs) == []
    assert not outage.down


async def test_a_retriable_error_then_a_fatal_one_raises_the_fatal_one() -> None:
    """The outage is on when a non-retriable error comes: it is raised, not retried."""
    outage = Outage(Backoff(initial=1.0, jitter=0.0))
    errors = iter([BrokerUnavailableError("down"), CommitFailedError("fenced")])

    async def call() -> None:
        raise next(errors)

    with pytest.raises(CommitFailedError):
        await retrying(outage, "commit", call)
    assert outage.down


async def test_cancelling_ends_the_wait() -> None:
    """Stopping the app cancels a loop that is waiting out an outage, at once."""
    outage = Outage(Backoff(initial=30.0, maximum=30.0, jitter=0.0))
    task = asyncio.create_task(retrying(outage, "fetch", Flaky(up_at=1000.0)))
    await asyncio.sleep(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.get_running_loop().time() == 5.0
