"""The command line: ``rxstreams worker module:app`` and friends.

::

    rxstreams worker examples.orders:app [--broker kafka://h:9092] [-l/--loglevel info]
    rxstreams -A examples.orders:app worker          (Faust's spelling)
    rxstreams send examples.orders:app orders '{"id": 1}' [--key K] [--partition N]
    rxstreams send examples.orders:app @running_totals '{"id": 1}'   (an agent, by name)
    rxstreams agents examples.orders:app
    rxstreams topics examples.orders:app
    rxstreams -A examples.orders:app COMMAND ...     (a command declared with @app.command())
    python mymod.py worker -l info                   (with app.main() in mymod.py)

``module`` is imported from the current directory first, as Faust does. A worker runs the
app until SIGTERM or SIGINT, then stops gracefully: it stops fetching, lets the agents
finish what they hold (up to ``shutdown_timeout``), commits, and leaves the consumer group,
so the other workers of the group take its partitions over.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .agents import Agent
from .app import App
from .commands import Command, argument, option
from .errors import ConfigurationError, RxStreamsError
from .logging import configure

__all__ = ("argument", "find_app", "main", "option")

#: Faust's level names (its ``-l`` takes crit, error, warn, info, debug) that the
#: standard library does not know
_LEVEL_ALIASES = {"CRIT": "CRITICAL"}

#: the description ``rxstreams --help`` shows (plain text: no reST markup)
DESCRIPTION = (
    "Run and inspect rxstreams apps. Name the app as module:attribute (module:app by "
    "default), after the command or with -A before it; the module is imported from the "
    "current directory."
)


def find_app(spec: str) -> App:
    """Import ``module:attribute`` (or ``module``, which must have ``app``) and return it."""
    module_name, _, attr = spec.partition(":")
    _import_from_cwd()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} (from {spec!r}): {exc}") from exc
    obj: Any = module
    for part in (attr or "app").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(f"{module_name!r} has no {attr or 'app'!r}") from None
    if not isinstance(obj, App):
        raise ConfigurationError(f"{spec!r} is a {type(obj).__name__}, not an rxstreams App")
    return obj


def _import_from_cwd() -> None:
    """Put the current directory first on ``sys.path`` (the ``rxstreams`` script, unlike
    ``python -m``, does not), so ``rxstreams worker mod:app`` imports ``./mod.py``."""
    cwd = os.getcwd()
    if not any(os.path.abspath(p or os.curdir) == cwd for p in sys.path):
        sys.path.insert(0, cwd)


def _parser(commands: Sequence[Command] = ()) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-A", "--app", dest="app_option", help="the app, as module:attribute")
    common.add_argument(
        "-l",
        "--loglevel",
        help="lowest log level shown: debug, info (default), warning (or warn), error, "
        "critical (or crit), in any case",
    )
    common.add_argument(
        "--json-logs", action="store_true", help="log one JSON object per line on stderr"
    )
    parser = argparse.ArgumentParser(prog="rxstreams", description=DESCRIPTION, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    # the options may come before or after the command: on the command they do not
    # override what was given before it unless given again
    quiet = argparse.ArgumentParser(add_help=False)
    for action in common._actions:
        quiet._add_action(_suppressed(action))

    def with_app(p: argparse.ArgumentParser) -> None:
        p.add_argument("app", nargs="?", help="the app, as module:attribute")

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[quiet])

    worker = add("worker", "Run the app's agents until SIGTERM or Ctrl-C.")
    with_app(worker)
    worker.add_argument("--broker", help="broker URL (overrides the app's)")

    send = add(
        "send",
        "Send one value (JSON, or a plain string) to a topic, or to an agent named @agent. "
        "On memory:// the record lives only in this process.",
    )
    send.add_argument(
        "args", nargs="+", help="[app] TOPIC or @AGENT, then the VALUE (none: a null value)"
    )
    send.add_argument("--key", help="the key (JSON, or a plain string)")
    send.add_argument("--partition", type=int, help="the partition (default: by key)")
    send.add_argument("--broker", help="broker URL (overrides the app's)")

    with_app(add("agents", "List the app's agents: name, channel, concurrency, help."))
    with_app(add("topics", "List the app's topics and their partition counts."))
    for command in commands:
        if command.name in sub.choices:
            raise ConfigurationError(
                f"@app.command() {command.name!r} clashes with the built-in command"
            )
        try:
            command.add_to(add(command.name, command.help))
        except argparse.ArgumentError as exc:  # an option the command line has already
            raise ConfigurationError(f"@app.command() {command.name!r}: {exc}") from None
    return parser


def _suppressed(action: argparse.Action) -> argparse.Action:
    clone = copy.copy(action)
    clone.default = argparse.SUPPRESS
    return clone


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _use_broker(app: App, url: str | None) -> None:
    if url:
        app.conf = dataclasses.replace(app.conf, broker=url)


async def _run_worker(app: App) -> None:
    """Run until SIGTERM/SIGINT: the first one stops gracefully (draining up to
    ``shutdown_timeout``), a second one stops at once (nothing unfinished is committed)."""
    loop = asyncio.get_running_loop()
    signals = 0
    stop = asyncio.Event()
    cuts: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop.set()
        else:
            cuts.append(loop.create_task(app.stop(drain=False)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await app.start()
    stopped = asyncio.ensure_future(app.wait())
    asked = asyncio.ensure_future(stop.wait())
    await asyncio.wait([stopped, asked], return_when=asyncio.FIRST_COMPLETED)
    asked.cancel()
    await app.stop()
    await stopped  # raises the error the app crashed with, if any


def _find_agent(app: App, target: str) -> Agent[Any] | None:
    """The agent ``target`` names: ``@name`` (Faust's spelling) must be an agent, a bare
    name is an agent if one has that name (full or last part), else a topic."""
    name = target[1:] if target.startswith("@") else target
    agent = app.agents.get(name) or next(
        (a for a in app.agents.values() if a.name.rsplit(".", 1)[-1] == name), None
    )
    if agent is None and target.startswith("@"):
        known = ", ".join(sorted(a.name.rsplit(".", 1)[-1] for a in app.agents.values()))
        raise ConfigurationError(
            f"the app has no agent named {name!r} (its agents: {known or 'none'})"
        )
    return agent


def _warn_if_in_process(app: App) -> None:
    if app.conf.broker.startswith("memory://"):
        print(
            f"rxstreams: warning: the broker is {app.conf.broker}, the embedded one: the "
            "record lives only in this process and is lost when it exits; pass "
            "--broker kafka://HOST:PORT (or give the app a Kafka broker) to reach a worker",
            file=sys.stderr,
        )


async def _send(app: App, target: str, value: Any, key: Any, partition: int | None) -> None:
    agent = _find_agent(app, target)
    try:
        if agent is not None:
            fut = await agent.send(value, key=key, partition=partition)
        else:
            fut = await app.topic(target).send(key=key, value=value, partition=partition)
        if isinstance(fut, asyncio.Future):
            meta = await fut
            print(
                json.dumps(
                    {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}
                )
            )
    finally:
        await app.stop()


def main(argv: Sequence[str] | None = None, *, app: App | None = None) -> int:
    """Run the command line; returns the exit status.

    With ``app`` (as ``App.main()`` passes it), the commands run on that app and take no
    app argument.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if app is None:  # -A names the app before the command: its own commands exist then
            early = argparse.ArgumentParser(add_help=False)
            early.add_argument("-A", "--app", dest="app_option")
            spec = early.parse_known_args(args_list)[0].app_option
            if spec is not None:
                app = find_app(spec)
        parser = _parser(list(app.commands.values()) if app is not None else ())
    except RxStreamsError as exc:
        print(f"rxstreams: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(args_list)
    try:
        level = (args.loglevel or "INFO").upper()
        configure(level=_LEVEL_ALIASES.get(level, level), json=args.json_logs)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.command == "send":
            rest = list(args.args)
            if app is None and len(rest) > 1 and ":" in rest[0]:
                app = find_app(rest.pop(0))
            if app is None or not rest:
                raise ConfigurationError(
                    "usage: rxstreams send APP TOPIC-OR-@AGENT [VALUE] (or -A APP)"
                )
            target, value = rest[0], _json_or_text(rest[1]) if len(rest) > 1 else None
            _use_broker(app, args.broker)
            key = None if args.key is None else _json_or_text(args.key)
            _find_agent(app, target)  # an unknown @agent fails before anything else
            _warn_if_in_process(app)
            asyncio.run(_send(app, target, value, key, args.partition))
            return 0
        spec = getattr(args, "app", None)
        if spec is not None:
            app = find_app(spec)
        if app is None:
            raise ConfigurationError("name the app: rxstreams COMMAND module:app (or -A)")
        command = app.commands.get(args.command)
        if command is not None:
            command.run(app, args)
            return 0
        if args.command == "agents":
            for agent in app.agents.values():
                channel = getattr(agent.channel, "name", repr(agent.channel))
                first = agent.help.splitlines()[0] if agent.help else ""
                print(f"{agent.name}\t{channel}\tconcurrency={agent.concurrency}\t{first}")
            return 0
        if args.command == "topics":
            for topic in app.topics.values():
                print(f"{topic.name}\tpartitions={topic.spec().partitions}")
            return 0
        _use_broker(app, args.broker)
        asyncio.run(_run_worker(app))
        return 0
    except RxStreamsError as exc:
        print(f"rxstreams: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
