"""The command line: ``rxstreams worker module:app`` and friends.

::

    rxstreams worker examples.orders:app [--broker kafka://h:9092] [-l/--loglevel INFO]
    rxstreams -A examples.orders:app worker          (Faust's spelling)
    rxstreams send examples.orders:app orders '{"id": 1}' [--key K] [--partition N]
    rxstreams agents examples.orders:app
    rxstreams topics examples.orders:app

A worker runs the app until SIGTERM or SIGINT, then stops gracefully: it stops fetching,
lets the agents finish what they hold (up to ``shutdown_timeout``), commits, and leaves the
consumer group, so the other workers of the group take its partitions over.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import importlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .app import App
from .errors import ConfigurationError, RxStreamsError
from .logging import configure

__all__ = ("find_app", "main")


def find_app(spec: str) -> App:
    """Import ``module:attribute`` (or ``module``, which must have ``app``) and return it."""
    module_name, _, attr = spec.partition(":")
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


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-A", "--app", dest="app_option", help="the app, as module:attribute")
    common.add_argument(
        "-l", "--loglevel", help="lowest log level shown: DEBUG, INFO (default), WARNING, ERROR"
    )
    common.add_argument("--json-logs", action="store_true", help="one JSON object per line")
    parser = argparse.ArgumentParser(
        prog="rxstreams", description=(__doc__ or "").split("\n")[0], parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # the options may come before or after the command: on the command they do not
    # override what was given before it unless given again
    quiet = argparse.ArgumentParser(add_help=False)
    for action in common._actions:
        quiet._add_action(_suppressed(action))

    def with_app(p: argparse.ArgumentParser) -> None:
        p.add_argument("app", nargs="?", help="the app, as module:attribute")

    worker = sub.add_parser("worker", help="run the app's agents until stopped", parents=[quiet])
    with_app(worker)
    worker.add_argument("--broker", help="broker URL (overrides the app's)")

    send = sub.add_parser(
        "send", help="send one value (JSON) to a topic or an agent", parents=[quiet]
    )
    send.add_argument("args", nargs="+", help="[app] TOPIC-OR-AGENT [VALUE]")
    send.add_argument("--key", help="the key (JSON, or a plain string)")
    send.add_argument("--partition", type=int)
    send.add_argument("--broker", help="broker URL (overrides the app's)")

    agents = sub.add_parser("agents", help="list the app's agents", parents=[quiet])
    with_app(agents)
    topics = sub.add_parser("topics", help="list the app's topics", parents=[quiet])
    with_app(topics)
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


async def _send(app: App, target: str, value: Any, key: Any, partition: int | None) -> None:
    agent = app.agents.get(target) or next(
        (a for a in app.agents.values() if a.name.rsplit(".", 1)[-1] == target), None
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        configure(level=args.loglevel or "INFO", json=args.json_logs)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        if args.command == "send":
            rest = list(args.args)
            spec = args.app_option or (rest.pop(0) if len(rest) > 1 and ":" in rest[0] else None)
            if spec is None or not rest:
                raise ConfigurationError("usage: rxstreams send APP TOPIC [VALUE] (or -A APP)")
            target, value = rest[0], _json_or_text(rest[1]) if len(rest) > 1 else None
            app = find_app(spec)
            _use_broker(app, args.broker)
            key = None if args.key is None else _json_or_text(args.key)
            asyncio.run(_send(app, target, value, key, args.partition))
            return 0
        spec = args.app or args.app_option
        if spec is None:
            raise ConfigurationError("name the app: rxstreams COMMAND module:app (or -A)")
        app = find_app(spec)
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
