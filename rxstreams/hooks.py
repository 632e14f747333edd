"""The app's lifecycle hooks: ``@app.on_started``, ``@app.on_stopped`` and the
``app.on_partitions_assigned`` / ``app.on_partitions_revoked`` signals.

They are one :class:`~rxstreams.runtime.lifecycle.Participant` of the worker, added once
a hook is declared. A hook that raises stops the app as a failing agent does: the error
is a :class:`~rxstreams.errors.TaskError` naming the hook, with the hook's error as its
cause.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .errors import ConfigurationError, TaskError
from .messages import TopicPartition
from .runtime.lifecycle import Participant

if TYPE_CHECKING:
    from .app import App

__all__ = ("AppHooks", "Signal")

HookFun = Callable[[], Awaitable[None]]
Receiver = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])


class Signal:
    """Faust's signal spelling: ``@app.on_partitions_assigned.connect``.

    A receiver is called as Faust calls it, ``receiver(app, partitions, signal=signal)``
    with the set of :class:`~rxstreams.TopicPartition` (``signal=`` only when it takes
    ``signal`` or ``**kwargs``); it may be a plain or an ``async`` function.
    """

    def __init__(self, hooks: AppHooks, name: str) -> None:
        self._hooks = hooks
        self.name = name
        self.receivers: list[Receiver] = []

    @overload
    def connect(self, receiver: F, /) -> F: ...

    @overload
    def connect(self, receiver: None = None, /) -> Callable[[F], F]: ...

    def connect(self, receiver: Any = None, /) -> Any:
        """Call ``receiver(app, partitions)`` at each step (with ``signal=`` this signal
        when it takes ``signal`` or ``**kwargs``, as Faust does); returns it. Usable as
        ``@signal.connect`` and ``@signal.connect()``."""
        if receiver is None:
            return self.connect
        if not callable(receiver):
            raise ConfigurationError(f"app.{self.name}.connect takes a function, not {receiver!r}")
        self.receivers.append(receiver)
        self._hooks.declared()
        return receiver

    def disconnect(self, receiver: Receiver) -> None:
        """Stop calling ``receiver``."""
        if receiver in self.receivers:
            self.receivers.remove(receiver)

    async def send(self, app: App, partitions: frozenset[TopicPartition]) -> None:
        for receiver in list(self.receivers):
            kwargs = {"signal": self} if _takes_signal(receiver) else {}
            await _call(f"app.{self.name} receiver", receiver, app, set(partitions), **kwargs)

    def __repr__(self) -> str:
        return f"<Signal {self.name} receivers={len(self.receivers)}>"


class AppHooks(Participant):
    """The hooks of one app, taking part in its worker's lifecycle."""

    def __init__(self, app: App, on_declared: Callable[[], None]) -> None:
        self.app = app
        self._on_declared = on_declared
        self.started: list[HookFun] = []
        self.stopped: list[HookFun] = []
        self.partitions_assigned = Signal(self, "on_partitions_assigned")
        self.partitions_revoked = Signal(self, "on_partitions_revoked")
        #: Faust's ``app.on_startup_finished``: called after the ``on_started`` hooks
        self.startup_finished: HookFun | None = None

    @property
    def any(self) -> bool:
        """Whether a hook was declared (else the worker need not hear from this)."""
        return bool(
            self.started
            or self.stopped
            or self.partitions_assigned.receivers
            or self.partitions_revoked.receivers
            or self.startup_finished is not None
        )

    def declared(self) -> None:
        self._on_declared()

    def add(self, kind: str, fun: HookFun) -> HookFun:
        """Register ``async def fun()`` as an ``on_started``/``on_stopped`` hook."""
        if not inspect.iscoroutinefunction(fun):
            raise ConfigurationError(
                f"@app.{kind} takes an async function (async def {getattr(fun, '__name__', '')}"
                f"(): ...), not {fun!r}"
            )
        try:
            inspect.signature(fun).bind()
        except TypeError:
            raise ConfigurationError(
                f"@app.{kind} function {fun.__qualname__} must take no argument"
            ) from None
        (self.started if kind == "on_started" else self.stopped).append(fun)
        self.declared()
        return fun

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        await self.partitions_assigned.send(self.app, partitions)

    async def on_revoking(self, partitions: frozenset[TopicPartition]) -> None:
        # Faust tells its receivers before the partitions' final commit, as here
        await self.partitions_revoked.send(self.app, partitions)

    async def on_started(self) -> None:
        for fun in list(self.started):
            await _call("@app.on_started hook", fun)
        if self.startup_finished is not None:
            await _call("app.on_startup_finished", self.startup_finished)

    async def on_stopped(self) -> None:
        for fun in reversed(self.stopped):
            await _call("@app.on_stopped hook", fun)


def _takes_signal(fun: Callable[..., Any]) -> bool:
    """Whether ``fun`` takes ``signal=`` (Faust passes it to every receiver)."""
    try:
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD or p.name == "signal" for p in parameters)


async def _call(what: str, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    name = getattr(fun, "__qualname__", repr(fun))
    try:
        result = fun(*args, **kwargs)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise TaskError(f"{what} {name} failed: {exc!r}") from exc
