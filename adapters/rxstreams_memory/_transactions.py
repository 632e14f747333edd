"""The transaction coordinator: transactional ids, producer epochs, open transactions.

Kafka's model, in one process. Starting a producer with a transactional id *initializes*
it (``InitProducerId``): the id's epoch is bumped, and a transaction the previous producer
of that id left open is aborted, so the previous producer is *fenced*: its epoch is stale
and each of its later calls raises :class:`~rxstreams.errors.ProducerFencedError`. A
transaction becomes known to the coordinator with its first record or offsets (as with
``AddPartitionsToTxn``); from then on it may stay open ``transaction_timeout`` seconds of
loop time, after which the coordinator aborts it and bumps the epoch (the producer is
fenced). Ending a transaction writes a control marker to each partition it wrote, and a
commit hands its offsets to the group coordinators.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rxstreams.errors import AppStateError, ProducerFencedError
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, TopicPartition

from ._group import GroupCoordinator
from ._log import PartitionLog

__all__ = ("Transaction", "TransactionCoordinator", "TransactionalId")

log = get_logger(__name__)


@dataclass(eq=False, slots=True)
class Transaction:
    """One open transaction of one producer epoch (a token the logs key their state by)."""

    transactional_id: str
    epoch: int
    #: the loop its timeout runs on; once closed, the transaction is aborted when a
    #: reader looks at it (its process — a test, a notebook cell — is gone)
    loop: asyncio.AbstractEventLoop
    timeout: float
    #: the coordinator's abort of a transaction that ran out of time
    on_expire: Callable[[Transaction], None]
    #: every partition written, with the offsets of the records written there
    written: dict[PartitionLog, list[int]] = field(default_factory=dict)
    #: group id -> offsets to commit with the transaction
    offsets: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None

    def expire(self) -> None:
        """Abort it as timed out, and fence its producer."""
        self.on_expire(self)


@dataclass(slots=True)
class TransactionalId:
    """What the coordinator keeps per transactional id."""

    producer_id: int
    epoch: int = 0
    open: Transaction | None = None


class TransactionCoordinator:
    """The transactional ids of one memory broker and their open transactions."""

    def __init__(self, group: Callable[[str], GroupCoordinator]) -> None:
        self._group = group
        self._ids: dict[str, TransactionalId] = {}

    def init_producer(self, transactional_id: str) -> tuple[int, int]:
        """A producer with ``transactional_id`` starts: abort the open transaction of the
        id's previous producer, bump the epoch; returns ``(producer id, epoch)``."""
        state = self._ids.get(transactional_id)
        if state is None:
            state = self._ids[transactional_id] = TransactionalId(producer_id=len(self._ids))
        else:
            if state.open is not None:
                self._end(state, state.open, commit=False, reason="fenced_by_new_producer")
            state.epoch += 1
        log.debug(
            "producer_initialized",
            transactional_id=transactional_id,
            producer_id=state.producer_id,
            epoch=state.epoch,
        )
        return state.producer_id, state.epoch

    def is_current(self, transactional_id: str, epoch: int) -> bool:
        """True unless the producer of ``epoch`` was fenced."""
        return self._ids[transactional_id].epoch == epoch

    def check(self, transactional_id: str, epoch: int) -> None:
        """Raise ProducerFencedError unless ``epoch`` is the id's current one."""
        state = self._ids[transactional_id]
        if state.epoch != epoch:
            raise ProducerFencedError(
                f"producer with transactional id {transactional_id!r} (epoch {epoch}) was "
                f"fenced: a newer producer with that id started, or the broker aborted its "
                f"transaction for running past transaction_timeout (epoch now {state.epoch}); "
                "its open transaction was aborted. Create a new producer.",
                retriable=False,
            )

    def open(self, transactional_id: str, epoch: int, timeout: float) -> Transaction:
        """The id's open transaction, made known now if it is not yet (its timeout starts)."""
        self.check(transactional_id, epoch)
        state = self._ids[transactional_id]
        txn = state.open
        if txn is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise AppStateError(
                    "a transaction needs the running event loop (its timeout runs on it): "
                    "send with `await producer.send(...)`"
                ) from None
            txn = state.open = Transaction(transactional_id, epoch, loop, timeout, self._expire)
            txn.timer = loop.call_later(timeout, txn.expire)
        return txn

    def add_offsets(
        self,
        txn: Transaction,
        offsets: Mapping[TopicPartition, int],
        group: GroupMetadata,
    ) -> None:
        """Check ``group`` with its coordinator and keep ``offsets`` for the commit."""
        self._group(group.group_id).check_transactional_commit(group)
        txn.offsets.setdefault(group.group_id, {}).update(offsets)

    def end(self, transactional_id: str, epoch: int, *, commit: bool) -> None:
        """Commit or abort the id's open transaction (if the coordinator knows of one)."""
        self.check(transactional_id, epoch)
        state = self._ids[transactional_id]
        if state.open is not None:
            self._end(state, state.open, commit=commit, reason="committed" if commit else "aborted")

    def _end(self, state: TransactionalId, txn: Transaction, *, commit: bool, reason: str) -> None:
        state.open = None
        if txn.timer is not None:
            txn.timer.cancel()
        now = time.time_ns() // 1_000_000
        if commit:  # the offsets first: they are visible when the records are
            for group_id, offsets in txn.offsets.items():
                self._group(group_id).commit(offsets)
        for plog, records in txn.written.items():
            plog.end_transaction(txn, None if commit else records, now)
        log.debug(
            "transaction_ended",
            transactional_id=txn.transactional_id,
            epoch=txn.epoch,
            outcome=reason,
            partitions=len(txn.written),
        )

    def _expire(self, txn: Transaction) -> None:
        state = self._ids[txn.transactional_id]
        if state.open is not txn:
            return
        txn.timer = None
        closed = txn.loop.is_closed()
        self._end(state, txn, commit=False, reason="event_loop_closed" if closed else "timed_out")
        state.epoch += 1
        log.warning(
            "transaction_timed_out",
            transactional_id=txn.transactional_id,
            transaction_timeout=txn.timeout,
            reason="event_loop_closed" if closed else "timeout",
        )
