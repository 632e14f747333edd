"""Riding out broker outages: retries with capped, jittered exponential backoff.

The worker's loops call the broker through :func:`retrying`. A
:class:`~rxstreams.errors.TransportError` whose ``retriable`` is true (the broker cannot be
reached, a request got no answer in time) is waited out: the call is made again after a
delay that grows from ``Backoff.initial`` by ``Backoff.multiplier`` up to
``Backoff.maximum``, each delay shortened by a random part (jitter) so that the workers of
a group do not all come back at the same moment. Any other exception is raised at once.

:class:`Outage` is what one worker knows about its broker, shared by all its loops: the
first failure logs one ``broker_unavailable`` warning; once every operation that failed
has succeeded again, one ``broker_available`` line says how long the broker was down.
Single retries are logged at debug level only::

    fetch    ──✗──────✗────────────✓──          ✗ retriable error, ✓ success
    commit   ─────✗───────✗───────────✓──
    log         unavailable           available (down_for = time from first ✗ to last ✓)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from ..errors import ConfigurationError, TransportError
from ..logging import get_logger

__all__ = ("Backoff", "Outage", "retrying")

log = get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before each retry of a call that keeps failing.

    Attributes:
        initial: the first delay, in seconds.
        maximum: no delay is longer (keep it well below the consumer's
            ``rebalance_timeout``: aiokafka leaves the group when ``getmany`` is not
            called for that long).
        multiplier: each delay is this many times the one before, up to ``maximum``.
        jitter: the fraction of each delay drawn at random: a delay ``d`` becomes one
            in ``[d * (1 - jitter), d]``.
    """

    initial: float = 0.2
    maximum: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ConfigurationError(
                f"backoff needs 0 < initial <= maximum, got initial={self.initial!r}, "
                f"maximum={self.maximum!r}"
            )
        if not self.multiplier >= 1:
            raise ConfigurationError(f"backoff multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError(f"backoff jitter must be in [0, 1], got {self.jitter!r}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The delays before the first, second, ... retry (an endless iterator)."""
        draw = (rng or _rng).random
        base = self.initial
        while True:
            yield base * (1.0 - self.jitter * draw())
            base = min(self.maximum, base * self.multiplier)


_rng = random.Random()


class Outage:
    """Whether the broker is reachable, as one worker sees it; logs each change once.

    Operations (``"fetch"``, ``"commit"``, ...) report their failures and successes. The
    outage starts with the first failure of any operation and ends when every operation
    that failed during it has succeeded again, so a loop that happens not to touch the
    broker for a while cannot end it early.
    """

    def __init__(self, backoff: Backoff | None = None, rng: random.Random | None = None) -> None:
        self.backoff = backoff if backoff is not None else Backoff()
        self.rng = rng
        #: the number of outages seen so far (ended or not)
        self.count = 0
        self._failing: set[str] = set()
        self._since = 0.0

    def __repr__(self) -> str:
        state = f"down ({', '.join(sorted(self._failing))} failing)" if self._failing else "up"
        return f"<Outage {state}, {self.count} so far>"

    @property
    def down(self) -> bool:
        """True from the first failure until every failed operation succeeded again."""
        return bool(self._failing)

    def failed(self, operation: str, error: BaseException) -> None:
        """``operation`` got a retriable error: start the outage if none is on."""
        if not self._failing:
            self._since = asyncio.get_running_loop().time()
            self.count += 1
            log.warning("broker_unavailable", operation=operation, error=str(error))
        self._failing.add(operation)

    def succeeded(self, operation: str) -> None:
        """``operation`` reached the broker: end the outage if it was the last one failing."""
        if operation in self._failing:
            self._failing.discard(operation)
            if not self._failing:
                down_for = asyncio.get_running_loop().time() - self._since
                log.info("broker_available", operation=operation, down_for=round(down_for, 3))


async def retrying(
    outage: Outage,
    operation: str,
    call: Callable[P, Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``await call(*args, **kwargs)``, retried with backoff while it raises retriable errors.

    Each attempt calls ``call`` anew, so a retried commit commits what is committable
    then, never more than what was acked. Raises the first exception that is not a
    retriable :class:`~rxstreams.errors.TransportError`; a cancellation ends the waiting.
    """
    delays: Iterator[float] | None = None
    while True:
        try:
            result = await call(*args, **kwargs)
        except TransportError as exc:
            if not exc.retriable:
                raise
            outage.failed(operation, exc)
            if delays is None:
                delays = outage.backoff.delays(outage.rng)
            delay = next(delays)
            log.debug("broker_call_retrying", operation=operation, delay=round(delay, 3))
            await asyncio.sleep(delay)
        else:
            outage.succeeded(operation)
            return result
