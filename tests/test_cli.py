"""The command line: listing agents and topics, sending, and a worker stopping on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rxstreams.cli import find_app, main
from rxstreams.errors import ConfigurationError
from rxstreams.logging import get_logger

ROOT = Path(__file__).resolve().parent.parent


def test_agents_and_topics_list_what_the_app_declares(capsys: pytest.CaptureFixture[str]) -> None:
    """`rxstreams agents APP` and `rxstreams -A APP topics` print one line each."""
    assert main(["agents", "examples.orders:app"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in out] == [
        ["examples.orders.running_totals", "orders"],
        ["examples.orders.report_large", "large-orders"],
    ]
    assert main(["-A", "examples.orders:app", "topics"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "orders\tpartitions=4",
        "large-orders\tpartitions=4",
    ]


def test_send_prints_where_the_record_landed(capsys: pytest.CaptureFixture[str]) -> None:
    """`rxstreams send APP TOPIC VALUE --key K` produces one record and prints its offset."""
    code = main(
        [
            "send",
            "examples.orders:app",
            "orders",
            '{"id": 1, "amount": 5}',
            "--key",
            "acct-1",
            "--broker",
            "memory://cli-send-test",
        ]
    )
    assert code == 0
    landed = json.loads(capsys.readouterr().out)
    assert landed["topic"] == "orders"
    assert landed["offset"] == 0


def test_bad_app_spec_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An app that cannot be imported exits 1 with the reason."""
    assert main(["agents", "no_such_module:app"]) == 1
    assert "cannot import 'no_such_module'" in capsys.readouterr().err
    with pytest.raises(ConfigurationError, match="not an rxstreams App"):
        find_app("examples.orders:totals")


def test_worker_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """A worker process runs until SIGTERM, then stops (commit, leave) and exits 0; it
    logs at INFO by default (no debug lines)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rxstreams", "worker", "examples.orders:app", "--json-logs"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    started = False
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if '"app_started"' in line:
            started = True
            break
    assert started, "".join(lines)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert '"app_stopped"' in rest


def test_ctrl_c_twice_stops_at_once(tmp_path: Path) -> None:
    """The first Ctrl-C logs what it drains and waits for the stuck agent; the second one
    stops the worker at once (exit 0). (That nothing past the unfinished event is committed
    is tested in process: tests/runtime/test_worker.py.)"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rxstreams", "worker", "tests.apps.stuck:app", "--json-logs"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []

    def wait_for(event: str) -> dict[str, object]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr is not None else ""
            lines.append(line)
            if f'"{event}"' in line:
                parsed: dict[str, object] = json.loads(line)
                return parsed
        raise AssertionError(f"no {event} in:\n{''.join(lines)}")

    wait_for("stuck")
    proc.send_signal(signal.SIGINT)
    stopping = wait_for("app_stopping")
    assert stopping["draining"] == 8  # offsets 2..9: fetched, not done
    time.sleep(1.0)
    assert proc.poll() is None  # still draining (shutdown_timeout is 600 s)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 0, rest
    assert '"drain_cut"' in rest
    stopped = [json.loads(line) for line in rest.splitlines() if '"app_stopped"' in line]
    assert stopped, rest
    levels = {json.loads(line)["level"] for line in [*lines, *rest.splitlines()] if line.strip()}
    assert "info" in levels
    assert "debug" not in levels


def test_log_level_defaults_to_info(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command configures logging at INFO on stderr unless told otherwise."""
    assert main(["agents", "examples.orders:app"]) == 0
    log = get_logger("rxstreams.probe")
    log.debug("hidden_probe")
    log.info("shown_probe")
    err = capsys.readouterr().err
    assert "shown_probe" in err
    assert "hidden_probe" not in err


def test_log_level_option_turns_debug_on(capsys: pytest.CaptureFixture[str]) -> None:
    """`-l DEBUG` (or `--loglevel DEBUG`) shows debug lines, as JSON with `--json-logs`."""
    assert main(["-l", "DEBUG", "agents", "examples.orders:app", "--json-logs"]) == 0
    get_logger("rxstreams.probe").debug("debug_probe", n=1)
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert (line["event"], line["level"], line["n"]) == ("debug_probe", "debug", 1)


def test_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown level exits 2 with the reason, like any bad option."""
    with pytest.raises(SystemExit) as exit_:
        main(["--loglevel", "LOUD", "agents", "examples.orders:app"])
    assert exit_.value.code == 2
    assert "unknown log level 'LOUD'" in capsys.readouterr().err
