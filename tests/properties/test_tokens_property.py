"""Property: for any interleaving of deliveries (with offset gaps), derives, forks, splits,
merges (join results), acks, pins, unpins and dropped references on a partition, the
committable offset is exactly 1 + the longest prefix of delivered offsets with no token
left on them (runtime/tokens.py + runtime/offsets.py).

The model does not look inside events: it tracks, per handle the test holds, which
offsets the handle claims (its own token, and what it keeps), by the documented meaning of
each operation; handles dropped while pinned keep their claims forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rxstreams import Event
from rxstreams.messages import Message, TopicPartition
from rxstreams.runtime import tokens
from rxstreams.runtime.offsets import PartitionOffsets
from tests.runtime.test_offsets import Flow, Sink


@dataclass
class Handle:
    """One event the test holds, and what the model says it claims."""

    event: Event[Any, Any]
    offset: int  # the offset of its message
    own: bool  # it holds its message's token
    kept: list[int] = field(default_factory=list)  # offsets it holds through its keep list
    pinned: bool = False
    root: bool = False  # the message's first event (derived events reference it)

    def claims(self) -> list[int]:
        return ([self.offset] if self.own else []) + self.kept


class TokenMachine(RuleBasedStateMachine):
    """Random operations on the events of one partition, checked against the model."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = Flow()
        self.offsets = PartitionOffsets(TopicPartition("t", 0), self.flow, Sink())
        self.next = 0
        self.delivered: list[int] = []
        self.live: list[Handle] = []
        self.stuck: list[int] = []  # claims of pinned handles that were let go of

    # -- operations ---------------------------------------------------------------------------

    @rule(count=st.integers(1, 3), gap=st.integers(0, 2))
    def deliver(self, count: int, gap: int) -> None:
        """A fetched batch; ``gap`` offsets before it were never delivered (compaction)."""
        self.next += gap
        batch = list(range(self.next, self.next + count))
        self.next += count
        self.offsets.delivered(batch)
        self.flow.in_flight += count
        for o in batch:
            msg = Message("t", 0, o, 0, None, None, ())
            ev = tokens.root(Event, None, o, msg, self.offsets)
            self.live.append(Handle(ev, o, own=True, root=True))
        self.delivered.extend(batch)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def derive(self, data: st.DataObject) -> None:
        """map: a new event takes the token (and keep list) over."""
        h = self._pick(data)
        new = Handle(tokens.derive(h.event, "mapped"), h.offset, h.own, list(h.kept))
        h.own, h.kept = False, []
        self.live.append(new)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def take_over(self, data: st.DataObject) -> None:
        """through: the event handed on as it is, token and keep list included."""
        h = self._pick(data)
        new = Handle(tokens.take_over(h.event), h.offset, h.own, list(h.kept))
        h.own, h.kept = False, []
        self.live.append(new)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def fork(self, data: st.DataObject) -> None:
        """A value computed from an event: a token of its own on the same message."""
        h = self._pick(data)
        self.live.append(Handle(tokens.fork(h.event, "derived"), h.offset, h.own))

    @precondition(lambda self: self.live)
    @rule(data=st.data(), n=st.integers(2, 3))
    def split(self, data: st.DataObject, n: int) -> None:
        """A fan-out: every part holds a token, and what the event kept."""
        h = self._pick(data)
        parts = tokens.split(h.event, n)
        self.live.append(Handle(parts[0], h.offset, h.own, list(h.kept)))
        for p in parts[1:]:
            self.live.append(Handle(p, h.offset, h.own, list(h.kept)))
        h.own, h.kept = False, []

    @precondition(lambda self: len(self.live) >= 2)
    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        """A join result: a token on one input, holds on the others and what they keep."""
        h = self._pick(data)
        other = self._pick(data)
        new = tokens.merge(h.event, ("joined",), [other.event])
        kept = list(h.kept) + ([other.offset] if other.own else []) + list(other.kept)
        self.live.append(Handle(new, h.offset, h.own, kept))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        """The stream is done with it (the agent moved on, a filter dropped it)."""
        h = self._pick(data)
        h.event.ack()
        h.own, h.kept = False, []

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def pin(self, data: st.DataObject) -> None:
        """Processing failed on it: never acked implicitly."""
        h = self._pick(data)
        tokens.pin(h.event)
        h.pinned = True

    @precondition(lambda self: any(h.pinned for h in self.live))
    @rule(data=st.data())
    def unpin(self, data: st.DataObject) -> None:
        """The error policy decided: it may be acked again."""
        h = self._pick(data, [h for h in self.live if h.pinned])
        tokens.unpin(h.event)
        h.pinned = False

    @precondition(lambda self: any(self._droppable(h) for h in self.live))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """An operator lets go of it: acked as dropped unless pinned."""
        h = self._pick(data, [h for h in self.live if self._droppable(h)])
        self.live.remove(h)
        if h.pinned:
            self.stuck.extend(h.claims())
        del h  # CPython frees the event now: its finalizer runs

    def _droppable(self, h: Handle) -> bool:
        # a root event is referenced by every event derived from it: it is freed (and its
        # finalizer runs) only once those are gone too
        return not h.root or not any(o is not h and o.offset == h.offset for o in self.live)

    def _pick(self, data: st.DataObject, among: list[Handle] | None = None) -> Handle:
        # draw an index, not the handle: Hypothesis keeps what it draws (to print it),
        # and a reference it kept would keep a dropped event alive
        among = self.live if among is None else among
        return among[data.draw(st.integers(0, len(among) - 1))]

    # -- the invariant ------------------------------------------------------------------------

    @invariant()
    def committable_is_one_past_the_done_prefix(self) -> None:
        """committable == 1 + the last offset of the longest prefix nobody claims."""
        claimed = set(self.stuck)
        for h in self.live:
            claimed.update(h.claims())
        expected = None
        for o in self.delivered:
            if o in claimed:
                break
            expected = o + 1
        assert self.offsets.committable == expected


TokenMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
test_tokens_and_offsets = TokenMachine.TestCase
