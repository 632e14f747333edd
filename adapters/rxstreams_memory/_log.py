"""One partition's log: records in a Python list behind a base offset, with retention.

Offsets start at 0 and never repeat. Retention (a maximum record count, a maximum age)
moves the *log start offset* forward at once; the list itself is trimmed from the front
only when the dead prefix is at least as long as the live part, so appends stay O(1)
amortized. Readers get slices of the list: the :class:`~rxstreams.messages.Message`
objects are frozen and shared by every reader.

Transactions (see ``_transactions.py``) add three things, all empty on a log that never
saw one, so plain appends and reads stay as they are: the *control markers* that end a
transaction (each takes an offset; no reader ever gets one), the offsets of *aborted*
records (hidden from ``read_committed`` readers), and the first offset of each *open*
transaction, whose smallest is the *last stable offset*: ``read_committed`` readers read
below it only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rxstreams.messages import Headers, Message

if TYPE_CHECKING:
    from ._transactions import Transaction

__all__ = ("PartitionLog", "make_message")

#: The dead prefix is cut off once it reaches this many records (and the live part's size).
_TRIM_AT_LEAST = 1024


#: Build a :class:`Message` from its seven fields, in order.
make_message: Callable[[str, int, int, int, bytes | None, bytes | None, Headers], Message] = Message


class PartitionLog:
    """The records of one partition, from ``start`` (log start offset) to ``end``."""

    __slots__ = (
        "_aborted",
        "_base",
        "_hidden_committed",
        "_hidden_uncommitted",
        "_max_records",
        "_open",
        "_records",
        "_retention_ms",
        "end",
        "partition",
        "start",
        "topic",
        "waiters",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        *,
        max_records: int | None = None,
        retention_ms: int | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self._records: list[Message] = []
        self._base = 0  # offset of self._records[0]
        #: The log start offset: the oldest offset still readable (read-only for others).
        self.start = 0
        #: The log end offset: the offset the next record gets (read-only for others).
        self.end = 0
        self._max_records = max_records
        self._retention_ms = retention_ms
        #: Futures of consumers waiting for a record here; resolved (and dropped) on append.
        self.waiters: set[asyncio.Future[None]] = set()
        #: offsets no reader gets (the control markers), and those a read_committed reader
        #: does not get either (markers and aborted records)
        self._hidden_uncommitted: set[int] = set()
        self._hidden_committed: set[int] = set()
        self._aborted: set[int] = set()
        #: open transaction -> its first offset in this log
        self._open: dict[Transaction, int] = {}

    def append(
        self,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        headers: Headers,
    ) -> int:
        """Store one record and return its offset; wakes the consumers waiting here."""
        offset = self.end
        if self._retention_ms is not None:
            self._expire(time.time_ns() // 1_000_000 - self._retention_ms)
        self._records.append(
            make_message(self.topic, self.partition, offset, timestamp, key, value, headers)
        )
        self.end = offset + 1
        if self._max_records is not None and offset + 1 - self.start > self._max_records:
            self.start = offset + 1 - self._max_records
            self._trim()
        if self.waiters:
            self.wake()
        return offset

    def read(self, offset: int, max_records: int, committed: bool = False) -> list[Message]:
        """The records among the ``max_records`` offsets from ``offset`` (which must be in
        ``[start, end]``): control markers left out, aborted records too if ``committed``
        (the caller keeps a ``committed`` read below :attr:`stable`)."""
        i = offset - self._base
        records = self._records[i : i + max_records]
        hidden = self._hidden_committed if committed else self._hidden_uncommitted
        if hidden:
            records = [m for m in records if m.offset not in hidden]
        return records

    def records(self) -> list[Message]:
        """Every record still readable, oldest first (aborted ones too, markers not)."""
        return self.read(self.start, self.end - self.start)

    # -- transactions ---------------------------------------------------------------------

    @property
    def stable(self) -> int:
        """The last stable offset: the first offset of the oldest open transaction here,
        else the log end. ``read_committed`` readers read below it.

        A transaction whose event loop is closed is aborted first: the process that
        would have ended it (a test, a notebook cell) is gone, and its timeout with it.
        """
        if not self._open:
            return self.end
        for txn in [t for t in self._open if t.loop.is_closed()]:
            txn.expire()
        return min(self._open.values()) if self._open else self.end

    def append_in_transaction(
        self,
        transaction: Transaction,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        headers: Headers,
    ) -> int:
        """Append a record of the open ``transaction`` (its first here holds the stable
        offset back until the transaction ends)."""
        offset = self.append(key, value, timestamp, headers)
        self._open.setdefault(transaction, offset)
        return offset

    def end_transaction(
        self, transaction: Transaction, aborted_offsets: list[int] | None, timestamp: int
    ) -> int:
        """Write the control marker ending ``transaction`` here and return its offset;
        ``aborted_offsets`` (an abort) become invisible to ``read_committed`` readers."""
        if aborted_offsets:
            self._aborted.update(aborted_offsets)
            self._hidden_committed.update(aborted_offsets)
        marker = self.end
        self._hidden_uncommitted.add(marker)
        self._hidden_committed.add(marker)
        self._open.pop(transaction, None)
        self.append(None, None, timestamp, ())
        return marker

    def is_aborted(self, offset: int) -> bool:
        """True if the record at ``offset`` belongs to an aborted transaction."""
        return offset in self._aborted

    def wake(self) -> None:
        """Resolve every waiting future (skipping those of closed loops) and forget them."""
        for waiter in self.waiters:
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
        self.waiters.clear()

    def _expire(self, cutoff_ms: int) -> None:
        """Move the log start past the leading records older than ``cutoff_ms``."""
        records = self._records
        base = self._base
        start = self.start
        end = self.end
        while start < end and records[start - base].timestamp < cutoff_ms:
            start += 1
        if start != self.start:
            self.start = start
            self._trim()

    def _trim(self) -> None:
        dead = self.start - self._base
        if dead >= _TRIM_AT_LEAST and dead >= len(self._records) - dead:
            del self._records[:dead]
            self._base = self.start
            if self._hidden_committed:
                start = self.start
                for offsets in (self._hidden_uncommitted, self._hidden_committed, self._aborted):
                    offsets.difference_update([o for o in offsets if o < start])
