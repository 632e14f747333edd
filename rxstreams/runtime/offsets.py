"""Per-partition ack tracking: which offset may be committed.

The committed offset of a partition is 1 + the highest offset such that it and every
earlier *delivered* offset are acked (Kafka's "next offset to read"). Offsets that were
never delivered (compaction, transaction markers) are not waited for.

Acks mostly arrive in order, so the common case is one comparison and one ``popleft``;
acks that overtake an earlier offset wait in a set until the gap closes.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from ..messages import TopicPartition

__all__ = ("AckSink", "FlowGate", "PartitionOffsets")


class FlowGate(Protocol):
    """The in-flight counter of a topic subscription, resumed when acks make room."""

    in_flight: int
    paused: bool
    resume_below: int

    def resume(self) -> None: ...


class AckSink(Protocol):
    """Counts acks for the commit policy ("commit every N acks")."""

    acks: int
    every: int

    def due(self) -> None: ...


class PartitionOffsets:
    """Tracks delivered and acked offsets of one assigned partition."""

    __slots__ = ("_ahead", "_flow", "_pending", "_sink", "closed", "committable", "committed", "tp")

    def __init__(
        self,
        tp: TopicPartition,
        flow: FlowGate,
        sink: AckSink,
        committed: int | None = None,
    ) -> None:
        self.tp = tp
        self._flow = flow
        self._sink = sink
        self._pending: deque[int] = deque()
        self._ahead: set[int] = set()
        #: next offset to read once every delivered offset before it is acked (None: nothing yet)
        self.committable: int | None = committed
        #: what was last committed to the broker for this partition
        self.committed: int | None = committed
        #: revoked or frozen: acks no longer count
        self.closed = False

    def delivered(self, offsets: list[int]) -> None:
        """Record offsets handed to the streams, in order."""
        self._pending.extend(offsets)

    def ack(self, offset: int) -> bool:
        """Mark ``offset`` done; False when the partition is closed (a documented no-op)."""
        if self.closed:
            return False
        pending = self._pending
        if pending and pending[0] == offset:
            pending.popleft()
            ahead = self._ahead
            if ahead:
                while pending and pending[0] in ahead:
                    offset = pending.popleft()
                    ahead.discard(offset)
            self.committable = offset + 1
        else:
            self._ahead.add(offset)
        flow = self._flow
        flow.in_flight -= 1
        if flow.paused and flow.in_flight <= flow.resume_below:
            flow.resume()
        sink = self._sink
        sink.acks += 1
        if sink.acks >= sink.every:
            sink.due()
        return True

    def passed(self, position: int) -> None:
        """The consumer moved on to ``position`` and every record before it was delivered:
        with nothing in flight, offsets up to there that hold no record (transaction
        markers, compacted records, at the end of the log) need no ack to be committed."""
        if not self._pending and not self.closed:
            c = self.committable
            if c is not None and position > c:
                self.committable = position

    @property
    def in_flight(self) -> int:
        """Delivered offsets not acked yet."""
        return len(self._pending)

    def to_commit(self) -> int | None:
        """The offset to commit now, or None when nothing new was acked since the last."""
        c = self.committable
        if c is None or c == self.committed:
            return None
        return c

    def close(self) -> int:
        """Stop counting acks (revoked, or frozen after a failure); return dropped in-flight."""
        self.closed = True
        dropped = len(self._pending)
        self._pending.clear()
        self._ahead.clear()
        return dropped
