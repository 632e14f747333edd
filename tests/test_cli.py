"""The command line: listing agents and topics, sending, and a worker stopping on SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import re
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


@pytest.mark.parametrize("level", ["info", "Warn", "crit", "CRITICAL", "error"])
def test_faust_log_level_names_are_accepted(level: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`-l` takes the names Faust's does (crit, error, warn, info, debug) and the
    standard library's, in any case."""
    assert main(["-l", level, "agents", "examples.orders:app"]) == 0
    assert "running_totals" in capsys.readouterr().out


def test_option_and_argument_import_from_the_cli_module_as_from_faust_cli() -> None:
    """`from faust.cli import option` becomes `from rxstreams.cli import option`."""
    import rxstreams
    from rxstreams import cli

    assert (cli.option, cli.argument) == (rxstreams.option, rxstreams.argument)


def test_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown level exits 2 with the reason, like any bad option."""
    with pytest.raises(SystemExit) as exit_:
        main(["--loglevel", "LOUD", "agents", "examples.orders:app"])
    assert exit_.value.code == 2
    assert "unknown log level 'LOUD'" in capsys.readouterr().err


# -- running from a project directory, app.main(), send @agent, help ----------------------------

PROJECT_APP = """
from rxstreams import App, Stream
from rxstreams.logging import get_logger

app = App("project", broker="memory://project")
log = get_logger("project")


@app.agent(app.topic("words", partitions=1))
async def count(stream: Stream[str]) -> None:
    async for word in stream:
        log.info("counted", word=word)


@app.on_started
async def ready() -> None:
    log.info("project_ready")


if __name__ == "__main__":
    app.main()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}


def _run_until(proc: subprocess.Popen[str], event: str) -> list[str]:
    """Read the worker's JSON logs until ``event``, then stop it with SIGTERM; all lines."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if f'"{event}"' in line:
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=30)
            assert proc.returncode == 0, rest
            return [*lines, *rest.splitlines()]
    proc.kill()
    raise AssertionError(f"no {event} in:\n{''.join(lines)}")


def test_worker_imports_the_app_from_the_current_directory(tmp_path: Path) -> None:
    """`rxstreams worker mod:app -l info` run in a project directory imports ./mod.py, as
    Faust does. `python -P` keeps the current directory off sys.path, as the installed
    `rxstreams` script does; the level is accepted in lower case."""
    (tmp_path / "mod.py").write_text(PROJECT_APP)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "rxstreams", "worker", "mod:app", "-l", "info", "--json-logs"],
        cwd=tmp_path,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = _run_until(proc, "project_ready")
    events = [json.loads(line)["event"] for line in lines if line.startswith("{")]
    assert events.index("app_started") < events.index("project_ready")
    assert "app_stopped" in events


def test_app_main_runs_the_command_line_on_the_app(tmp_path: Path) -> None:
    """`python mod.py worker -l INFO` runs the worker of the app in mod.py (app.main())."""
    (tmp_path / "mod.py").write_text(PROJECT_APP)
    proc = subprocess.Popen(
        [sys.executable, "mod.py", "worker", "-l", "INFO", "--json-logs"],
        cwd=tmp_path,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = _run_until(proc, "project_ready")
    (started,) = [json.loads(x) for x in lines if '"app_started"' in x]
    assert started["agents"] == ["__main__.count"]


def test_app_commands_run_from_app_main_and_from_rxstreams_A() -> None:
    """@app.command() adds a subcommand: its arguments and options are parsed and passed;
    an async one runs in its own loop (here it asks an agent); a plain one taking `self`
    gets the app and `say`."""
    script = ROOT / "tests" / "apps" / "commands.py"
    out = subprocess.run(
        [sys.executable, str(script), "greet", "ann", "-n", "2", "--loud"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["hello ANN", "hello ANN"]
    assert "hook_started" in out.stderr
    assert "hook_stopped" in out.stderr


def test_app_commands_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-A", "tests.apps.commands:app", "names", "--prefix", "agent: "]) == 0
    assert capsys.readouterr().out.splitlines() == ["agent: shout"]
    assert main(["-A", "tests.apps.commands:app", "greet", "bo"]) == 0
    assert capsys.readouterr().out.splitlines() == ["hello bo"]
    with pytest.raises(SystemExit) as exit_:
        main(["-A", "tests.apps.commands:app", "greet", "bo", "--times", "many"])
    assert exit_.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_a_command_may_not_shadow_a_built_in_one(capsys: pytest.CaptureFixture[str]) -> None:
    """A command named as a built-in one, or with an option the command line has, is an
    error naming it, not a traceback."""
    from rxstreams import App, option

    app = App("shadow")

    @app.command()
    async def worker() -> None: ...

    assert main(["agents"], app=app) == 1
    assert "'worker' clashes with the built-in command" in capsys.readouterr().err

    other = App("shadow-option")

    @other.command(option("--json-logs", is_flag=True, help="mine"))
    async def export(json_logs: bool) -> None: ...

    assert main(["agents"], app=other) == 1
    assert "'export': argument --json-logs: conflicting option string" in capsys.readouterr().err


def test_send_at_agent_addresses_the_agent_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    """`send APP @agent VALUE` sends to the agent's channel; an unknown @name is an error
    listing the agents; on memory:// a warning says the record stays in this process."""
    code = main(["send", "examples.orders:app", "@running_totals", '{"id": 2, "amount": 50}'])
    assert code == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["topic"] == "orders"  # the agent's topic
    assert "lives only in this process" in captured.err
    assert main(["send", "examples.orders:app", "@nobody", "1"]) == 1
    err = capsys.readouterr().err
    assert "no agent named 'nobody'" in err
    assert "running_totals" in err
    assert "lives only in this process" not in err


def test_send_to_kafka_does_not_warn(capsys: pytest.CaptureFixture[str]) -> None:
    """The warning is for the embedded broker only (checked without reaching a broker)."""
    from rxstreams import App
    from rxstreams.cli import _warn_if_in_process  # the decision alone, no broker needed

    _warn_if_in_process(App("k", broker="kafka://127.0.0.1:1"))
    assert capsys.readouterr().err == ""
    _warn_if_in_process(App("m", broker="memory://x"))
    assert "memory://x" in capsys.readouterr().err


RAW_REST = re.compile(r"::|:(class|func|meth|attr|mod|data|exc|ref):|``|\.\. ")


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    from rxstreams.cli import _parser
    from tests.apps.commands import app

    commands = list(app.commands.values())
    root = _parser(commands)
    found = [("rxstreams", root)]
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += sorted(action.choices.items())
    assert [name for name, _ in found] == [
        "rxstreams",
        "agents",
        "greet",
        "names",
        "send",
        "topics",
        "worker",
    ]
    return found


def test_every_help_renders_without_rest_and_every_option_has_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--help` of the program and of every command (built-in and @app.command()) is plain
    text, and every option and argument says what it is for."""
    for name, parser in _all_parsers():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert (action.help or "").strip(), (name, action.option_strings)
        text = parser.format_help()
        assert not RAW_REST.search(text), (name, RAW_REST.search(text), text)
        assert parser.description, name
    for argv in (["--help"], ["send", "--help"], ["-A", "tests.apps.commands:app", "greet", "-h"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: rxstreams")
        assert not RAW_REST.search(out)
