"""``@app.command()``: the app's own subcommands of the command line, as in Faust.

::

    from rxstreams import App, argument, option

    app = App("orders")

    @app.command(argument("customer"), option("--count", type=int, default=1, help="how many"))
    async def produce(customer: str, count: int) -> None:
        ...

``rxstreams -A module:app produce alice --count 3`` (or ``python module.py produce ...``
with ``app.main()``) parses the options and calls the function with them as keyword
arguments; an ``async`` function runs in a new event loop. A function whose first
parameter is ``self`` (Faust's ``AppCommand`` style) receives a :class:`CommandContext`
first, with ``self.app`` and ``self.say(text)``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .app import App

__all__ = ("Command", "CommandContext", "Param", "argument", "option")


@dataclass(frozen=True)
class Param:
    """One option (``--name``) or argument of a command (see :func:`option`)."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.kwargs)


def option(
    *flags: str,
    type: Callable[[str], Any] | None = None,
    default: Any = None,
    help: str | None = None,
    required: bool = False,
    is_flag: bool = False,
    multiple: bool = False,
) -> Param:
    """A command option, click's spelling: ``option("--count", "-n", type=int, default=1)``.

    ``is_flag=True``: a switch (``True`` when given); ``multiple=True``: may be repeated,
    the function receives a list.
    """
    if not flags or not all(f.startswith("-") for f in flags):
        raise ConfigurationError(f"option names start with '-' or '--', not {flags!r}")
    kwargs: dict[str, Any] = {"help": help or ""}
    if is_flag:
        kwargs["action"] = "store_true"
    else:
        kwargs.update(default=default, required=required)
        if type is not None:
            kwargs["type"] = type
        if multiple:
            kwargs["action"] = "append"
    return Param(flags, kwargs)


def argument(
    name: str,
    *,
    type: Callable[[str], Any] | None = None,
    default: Any = None,
    required: bool = True,
    nargs: int | str | None = None,
    help: str | None = None,
) -> Param:
    """A positional argument: ``argument("customer")``; ``required=False`` makes it
    optional (``default`` then); ``nargs=-1`` (click's spelling) takes all that remain."""
    kwargs: dict[str, Any] = {"help": help or ""}
    if type is not None:
        kwargs["type"] = type
    if nargs == -1:
        kwargs["nargs"] = "*"
    elif nargs is not None:
        kwargs["nargs"] = nargs
    elif not required:
        kwargs.update(nargs="?", default=default)
    return Param((name,), kwargs)


@dataclass
class CommandContext:
    """What a Faust-style ``self`` gives a command: the app, and ``say``."""

    app: App

    def say(self, text: Any) -> None:
        """Print ``text`` on standard output."""
        print(text)


@dataclass(frozen=True)
class Command:
    """A subcommand declared with ``@app.command()``."""

    name: str
    fun: Callable[..., Any]
    params: tuple[Param, ...]
    help: str

    @classmethod
    def declare(
        cls, fun: Callable[..., Any], params: tuple[Param, ...], name: str | None, help: str | None
    ) -> Command:
        if not callable(fun):
            raise ConfigurationError(f"@app.command() decorates a function, not {fun!r}")
        for param in params:
            if not isinstance(param, Param):
                raise ConfigurationError(
                    f"@app.command() takes option(...) and argument(...), not {param!r}"
                )
        doc = inspect.getdoc(fun) or ""
        text = help or (doc.split("\n\n")[0].replace("\n", " ") if doc else "")
        return cls(name or fun.__name__, fun, params, text or f"the app's {fun.__name__} command")

    @property
    def takes_self(self) -> bool:
        params = list(inspect.signature(self.fun).parameters)
        return bool(params) and params[0] == "self"

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        for param in self.params:
            param.add_to(parser)

    def run(self, app: App, args: argparse.Namespace) -> Any:
        """Call the function with the parsed options (in a new loop if it is async)."""
        dests = {action.dest for action in self._parser().actions}
        kwargs = {k: v for k, v in vars(args).items() if k in dests}
        call_args: tuple[Any, ...] = (CommandContext(app),) if self.takes_self else ()
        result = self.fun(*call_args, **kwargs)
        if inspect.isawaitable(result):
            return asyncio.run(_await(result))
        return result

    def _parser(self) -> _Collect:
        collect = _Collect()
        for param in self.params:
            collect.add_argument(*param.flags, **param.kwargs)
        return collect


class _Collect(argparse.ArgumentParser):
    """A parser only used to learn the destinations of the command's parameters."""

    def __init__(self) -> None:
        super().__init__(add_help=False)

    @property
    def actions(self) -> list[argparse.Action]:
        return list(self._actions)


async def _await(awaitable: Any) -> Any:
    return await awaitable
