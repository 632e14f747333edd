"""@app.command(): click-style options and arguments, parsed by the command line."""

from __future__ import annotations

import pytest

from rxstreams import App, ConfigurationError, argument, option
from rxstreams.cli import main


def test_options_and_arguments_reach_the_function(capsys: pytest.CaptureFixture[str]) -> None:
    """Flags, repeated options, defaults, optional and variadic arguments, as click has
    them; a plain (not async) function runs as it is."""
    app = App("commands-parse")
    got: list[object] = []

    @app.command(
        argument("first"),
        argument("rest", nargs=-1, help="the others"),
        option("--tag", "-t", multiple=True, help="a tag (repeatable)"),
        option("--dry-run", is_flag=True, help="change nothing"),
        option("--level", type=int, default=3, help="how deep"),
    )
    def tidy(first: str, rest: list[str], tag: list[str] | None, dry_run: bool, level: int) -> None:
        got.append((first, rest, tag, dry_run, level))

    @app.command(argument("who", required=False, default="world"), name="say-hi")
    async def hi(who: str) -> None:
        print(f"hi {who}")

    assert main(["tidy", "a", "b", "c", "-t", "x", "--tag", "y", "--dry-run"], app=app) == 0
    assert main(["tidy", "a", "--level", "5"], app=app) == 0
    assert got == [("a", ["b", "c"], ["x", "y"], True, 3), ("a", [], None, False, 5)]
    assert main(["say-hi"], app=app) == 0
    assert main(["say-hi", "ann"], app=app) == 0
    assert capsys.readouterr().out.splitlines() == ["hi world", "hi ann"]


def test_a_command_error_is_reported_like_any_other(capsys: pytest.CaptureFixture[str]) -> None:
    """An RxStreamsError raised by a command exits 1 with its message."""
    app = App("commands-fail")

    @app.command()
    async def fail() -> None:
        raise ConfigurationError("the command refused")

    assert main(["fail"], app=app) == 1
    assert "rxstreams: the command refused" in capsys.readouterr().err


def test_bad_declarations_fail_at_once() -> None:
    app = App("commands-bad")
    with pytest.raises(ConfigurationError, match="start with '-'"):
        option("count")
    with pytest.raises(ConfigurationError, match=r"option\(\.\.\.\) and argument"):
        app.command("--count")(lambda: None)  # type: ignore[arg-type]

    @app.command()
    def twice() -> None: ...

    with pytest.raises(ConfigurationError, match="'twice' exists already"):
        app.command(name="twice")(lambda: None)
