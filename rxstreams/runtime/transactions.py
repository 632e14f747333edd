"""Exactly-once commits: the worker's transaction, committed only when nothing is in flight.

With ``processing_guarantee="exactly_once"`` everything the worker sends goes into one
open transaction (see :mod:`.producer`), and the input offsets are committed *in* that
transaction: the output and the offsets that led to it become visible together, or not at
all. A transaction may only hold the output of events that are behind the offsets it
commits: output of an event still in flight (or acked behind a gap) would be committed
while its offset is not, and produced a second time after a crash. So a commit is a
barrier::

    fetch ──deliver──┐ gate closed: fetched batches wait     ┌── gate open again
                     ▼                                       │
    in flight   5 4 3 2 1 0    (the agents finish them)      │
                             commit(offsets = all delivered) ┘

1. the fetch loop stops delivering (fetched batches wait at the gate);
2. the agents finish what was delivered, until no event is in flight (events that
   operators hold, such as a buffer waiting to fill, count as in flight);
3. the producer is flushed, the offsets are sent to the transaction with the consumer's
   group generation, and the transaction commits;
4. delivery resumes; the next send opens the next transaction.

Step 2 waits as long as events keep finishing; when none finished for a while (a periodic
commit waits ``commit_interval``), what is left is held by an operator, and the commit is
put off (the transaction stays open; the next interval tries again). Before partitions
are revoked, and on stop, it cannot be put off: the transaction is aborted instead, and
its input is processed again from the last committed offsets, by this worker or the
partitions' new owner. A commit refused because the group moved on (a zombie worker) is
aborted the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from ..errors import CommitFailedError
from ..logging import get_logger
from ..messages import TopicPartition
from ..types import ConsumerT
from .lifecycle import Lifecycle
from .producer import Producing

__all__ = ("Gate", "Transactions")

log = get_logger(__name__)

#: how often the barrier looks at the events in flight, in seconds
_POLL = 0.005


class Gate:
    """Open: the fetch loop delivers. Closed: fetched batches wait until it opens."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._closed_by = 0

    def close(self) -> None:
        self._closed_by += 1
        self._open.clear()

    def open(self) -> None:
        self._closed_by -= 1
        if self._closed_by <= 0:
            self._closed_by = 0
            self._open.set()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        await self._open.wait()


class Transactions:
    """Commits the worker's transaction behind a barrier (see the module doc)."""

    def __init__(
        self,
        producing: Producing,
        lifecycle: Lifecycle,
        in_flight: Callable[[], int],
        *,
        wait: float,
        final_wait: float,
    ) -> None:
        self.producing = producing
        self.lifecycle = lifecycle
        self.in_flight = in_flight
        self.gate = Gate()
        #: how long a periodic commit waits for the events in flight
        self.wait = wait
        #: how long a commit before a revocation waits
        self.final_wait = final_wait
        self.deferred = 0

    async def commit(
        self,
        consumer: ConsumerT,
        committable: Callable[[], dict[TopicPartition, int]],
        *,
        final: bool,
        wait: float | None = None,
    ) -> Mapping[TopicPartition, int]:
        """Commit the transaction with the committable offsets; returns them ({} when the
        commit was put off or aborted)."""
        self.gate.close()
        try:
            timeout = wait if wait is not None else (self.final_wait if final else self.wait)
            if not await self._quiet(timeout):
                if not final:
                    self.deferred += 1
                    log.debug("transaction_commit_deferred", in_flight=self.in_flight())
                    return {}
                await self.abort("events_in_flight", in_flight=self.in_flight())
                return {}
            offsets = committable()
            await self.lifecycle.commit(offsets)
            try:
                committed = await self.producing.commit_transaction(
                    offsets, consumer.group_metadata()
                )
            except CommitFailedError as exc:
                # a member the group moved on from: its output must never be visible
                await self.abort("fenced", error=str(exc))
                return {}
            if committed:
                log.debug("transaction_committed", offsets=len(offsets))
            return offsets
        finally:
            self.gate.open()

    async def abort(self, reason: str, **details: object) -> None:
        """Abort the open transaction (its input is processed again)."""
        if self.producing.in_transaction:
            log.warning("transaction_aborted", reason=reason, **details)
        await self.producing.abort_transaction()

    async def _quiet(self, timeout: float) -> bool:
        """Wait until no event is in flight; False once ``timeout`` seconds passed without
        one finishing (what is left is held, e.g. by a buffer waiting to fill)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        left = self.in_flight()
        while left:
            await asyncio.sleep(_POLL)
            now = self.in_flight()
            if now < left:
                deadline = loop.time() + timeout
            elif loop.time() >= deadline:
                return False
            left = now
        return True
