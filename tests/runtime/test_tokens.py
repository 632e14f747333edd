"""Ack tokens: moving, splitting, holding, pinning and settling (runtime/tokens.py)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from rxstreams import Event
from rxstreams.messages import Message
from rxstreams.runtime import tokens


class Offsets:
    """Records acked offsets (stands in for PartitionOffsets)."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, offset: int) -> bool:
        self.acked.append(offset)
        return True


class Port:
    """The subscriber an event was delivered to (stands in for source.Port)."""

    def __init__(self, *, failed: bool, closed: bool = False, others: bool = False) -> None:
        self.failed = failed
        #: the subscriber is gone; ``others``: other subscribers still read the source
        self.closed = closed
        self.source = self
        self.ports = [object()] if others else []


def test_an_event_a_disposed_pipeline_let_go_of_waits_for_the_next_run() -> None:
    """The subscriber was disposed (a take downstream ended, the app stopped) and nobody
    else reads the topic: an event an operator still held is not acked when freed, so the
    next run of the group processes it; with another reader left, it is acked (that reader
    decides the commit)."""
    ev, offsets = delivered(7, port=Port(failed=False, closed=True))
    del ev
    assert offsets.acked == []
    ev, offsets = delivered(8, port=Port(failed=False, closed=True, others=True))
    del ev
    assert offsets.acked == [8]


def delivered(
    offset: int = 0, value: Any = "v", *, port: Port | None = None
) -> tuple[Event[Any, Any], Offsets]:
    """An event as a source hands it to one stream: it owns one token."""
    offsets = Offsets()
    msg = Message("t", 0, offset, 1_700_000_000_000, b"k", b"v", (("h", b"x"),))
    ev = tokens.root(Event, "k", value, msg, offsets, port)  # type: ignore[arg-type]
    return ev, offsets


def test_ack_acks_the_offset_once() -> None:
    """The first ack() acks the offset and returns True; a second is a no-op."""
    ev, offsets = delivered(5)
    assert ev.ack() is True
    assert ev.ack() is False
    assert offsets.acked == [5]
    assert ev.acked


def test_split_acks_only_when_every_stream_is_done() -> None:
    """A message fanned out to three streams is acked after the third releases it."""
    ev, offsets = delivered(3)
    a, b, c = tokens.split(ev, 3)
    a.ack()
    b.ack()
    assert offsets.acked == []
    c.ack()
    assert offsets.acked == [3]


def test_derive_moves_the_token_to_the_new_event() -> None:
    """After map, acking the old event does nothing; acking the new one acks the offset."""
    ev, offsets = delivered(1)
    mapped = tokens.derive(ev, 42)
    assert ev.ack() is False
    assert offsets.acked == []
    assert mapped.value == 42
    assert mapped.key == "k"
    assert mapped.message is ev.message
    assert mapped.ack() is True
    assert offsets.acked == [1]


def test_a_dropped_event_is_acked_when_its_last_reference_goes() -> None:
    """An event nobody holds any more (an unknown operator dropped it) is acked."""
    ev, offsets = delivered(9)
    mapped = tokens.derive(ev, 1)
    del ev
    assert offsets.acked == []
    del mapped
    gc.collect()
    assert offsets.acked == [9]


def test_a_pinned_event_is_never_acked_implicitly() -> None:
    """An event whose processing failed stays unacked even when freed."""
    ev, offsets = delivered(2)
    tokens.pin(ev)
    del ev
    gc.collect()
    assert offsets.acked == []


def test_a_held_event_stays_in_flight() -> None:
    """An event kept by an operator (here a list) is not acked."""
    ev, offsets = delivered(4)
    held = [tokens.derive(ev, ev.value)]
    del ev
    gc.collect()
    assert offsets.acked == []
    held.clear()
    assert offsets.acked == [4]


def test_a_dropped_event_is_acked_at_once_without_the_garbage_collector() -> None:
    """Events form no reference cycles: dropping the last reference acks at once."""
    gc.disable()
    try:
        ev, offsets = delivered(6)
        del ev
        assert offsets.acked == [6]
    finally:
        gc.enable()


def test_fork_holds_the_message_until_both_are_done() -> None:
    """A forked event (derived work) keeps the offset unacked after the original is done."""
    ev, offsets = delivered(8)
    derived = tokens.fork(ev, 99)
    ev.ack()
    assert offsets.acked == []
    derived.ack()
    assert offsets.acked == [8]


def test_keep_releases_the_kept_events_with_the_result() -> None:
    """A result keeping other events (a join) acks them when it is acked."""
    a, offsets_a = delivered(1)
    b, offsets_b = delivered(2)
    joined = tokens.fork(a, (1, 2), keep=[tokens.hold(b)])
    a.ack()
    b.ack()
    assert offsets_a.acked == offsets_b.acked == []
    joined.ack()
    assert offsets_a.acked == [1]
    assert offsets_b.acked == [2]


def test_take_over_keeps_what_the_event_kept() -> None:
    """An event handed on (through) still holds what it kept: a join's inputs wait for it."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    joined = tokens.merge(left, (1, 2), [right])
    left.ack()
    right.ack()
    moved = tokens.take_over(joined)
    assert moved.value == (1, 2)
    del joined
    gc.collect()
    assert offsets_left.acked == offsets_right.acked == []
    moved.ack()
    assert offsets_left.acked == [1]
    assert offsets_right.acked == [2]


def test_split_gives_every_part_a_hold_on_what_was_kept() -> None:
    """A fan-out of a join result: its inputs are acked only once every branch is done."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    joined = tokens.merge(left, (1, 2), [right])
    left.ack()
    right.ack()
    first, second = tokens.split(joined, 2)
    first.ack()
    assert offsets_right.acked == []
    assert offsets_left.acked == []
    second.ack()
    assert offsets_left.acked == [1]
    assert offsets_right.acked == [2]


def test_pin_pins_what_the_event_keeps() -> None:
    """A failed join result is never acked implicitly, and neither are its inputs."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    joined = tokens.merge(left, (1, 2), [right])
    left.ack()
    right.ack()
    tokens.pin(joined)
    del joined
    gc.collect()
    assert offsets_left.acked == offsets_right.acked == []


def test_a_delivered_event_carries_its_value_and_is_its_messages_only_token() -> None:
    """root() builds the event a stream sees: its value, not pinned, alone on its message."""
    ev, offsets = delivered(3, value={"n": 1})
    assert ev.value == {"n": 1}
    assert tokens.is_pinned(ev) is False
    assert tokens.sole(ev)
    assert tokens.holds(ev)
    assert ev.ack() is True
    assert offsets.acked == [3]
    assert not tokens.holds(ev)


def test_given_headers_and_timestamp_survive_map_and_fork() -> None:
    """A channel event keeps the headers and timestamp it was sent with, in derived events too."""
    msg = Message("c", 0, 0, 1_700_000_000_000, None, None, (("h", b"x"),))
    offsets = Offsets()
    ev = tokens.root(
        Event,
        None,
        1,
        msg,
        offsets,  # type: ignore[arg-type]
        headers={"trace": "t1"},
        timestamp=12.5,
    )
    mapped = tokens.derive(ev, 2)
    forked = tokens.fork(mapped, 3)
    for e in (ev, mapped, forked):
        assert e.headers == {"trace": "t1"}
        assert e.timestamp == 12.5
    assert tokens.is_pinned(mapped) is False
    assert tokens.is_pinned(forked) is False


def test_an_event_of_an_untracked_message_settles_without_an_offset() -> None:
    """An event whose message has no partition offsets behind it settles, and acks nothing."""
    msg = Message("t", 0, 7, 1_700_000_000_000, None, b"v", ())
    ev = tokens.root(Event, None, "v", msg, None)
    assert ev.ack() is True
    assert ev.ack() is False
    assert not ev.acked


def test_settling_one_of_several_tokens_returns_true() -> None:
    """ack() says whether the event owned a token, also when others still hold the message."""
    ev, offsets = delivered(2)
    first, second = tokens.split(ev, 2)
    assert first.ack() is True
    assert offsets.acked == []
    assert second.ack() is True
    assert offsets.acked == [2]


def test_a_result_keeping_other_events_is_settled_only_once() -> None:
    """A join result's second ack() is a no-op that returns False, like any event's."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    joined = tokens.merge(left, (1, 2), [right])
    left.ack()
    right.ack()
    assert joined.ack() is True
    assert joined.ack() is False
    assert offsets_left.acked == [1]
    assert offsets_right.acked == [2]


def test_split_parts_carry_the_value() -> None:
    """Every stream of a fan-out sees the event's value, the first one included."""
    ev, _ = delivered(0, value=41)
    parts = tokens.split(ev, 3)
    assert [p.value for p in parts] == [41, 41, 41]
    assert not any(tokens.sole(p) for p in parts)
    tokens.release(parts)


def test_a_fork_of_a_settled_event_owns_nothing() -> None:
    """Derived work of an event already settled holds no token and acks nothing again."""
    ev, offsets = delivered(4)
    ev.ack()
    late = tokens.fork(ev, "late")
    assert not tokens.holds(late)
    assert late.ack() is False
    assert offsets.acked == [4]


def test_an_event_its_failed_pipeline_let_go_of_is_not_acked() -> None:
    """After the subscriber's pipeline failed, a dropped event stays unacked; ack() counts."""
    port = Port(failed=True)
    dropped, offsets_dropped = delivered(1, port=port)
    settled, offsets_settled = delivered(2, port=port)
    del dropped
    gc.collect()
    assert offsets_dropped.acked == []
    assert settled.ack() is True
    assert offsets_settled.acked == [2]


def test_an_event_a_healthy_pipeline_let_go_of_is_acked() -> None:
    """A subscriber whose pipeline runs fine: an event it drops is acked at once."""
    ev, offsets = delivered(5, port=Port(failed=False))
    del ev
    assert offsets.acked == [5]


def test_pin_pins_every_event_of_a_batch() -> None:
    """A failed batch (a buffer's list) is never acked implicitly, event by event."""
    a, offsets_a = delivered(1)
    b, offsets_b = delivered(2)
    batch = [a, b]
    del a, b
    tokens.pin(batch)
    assert tokens.is_pinned(batch) is True
    batch.clear()
    gc.collect()
    assert offsets_a.acked == offsets_b.acked == []


def test_an_unpinned_event_is_acked_when_dropped() -> None:
    """Once the error policy decided (skip), the event settles like any other."""
    ev, offsets = delivered(6)
    tokens.pin(ev)
    tokens.unpin(ev)
    assert tokens.is_pinned(ev) is False
    del ev
    assert offsets.acked == [6]


@pytest.mark.parametrize(
    ("pinned", "expected"),
    [((), False), ((0,), True), ((1,), True), ((0, 1), True)],
)
def test_a_batch_is_pinned_when_one_of_its_events_is(
    pinned: tuple[int, ...], expected: bool
) -> None:
    """is_pinned() of a list: True when any event in it failed, False when none did."""
    batch = [delivered(0)[0], delivered(1)[0], "not an event"]
    for i in pinned:
        tokens.pin(batch[i])
    assert tokens.is_pinned(batch) is expected
    assert tokens.is_pinned(batch[0]) is (0 in pinned)


def test_values_that_are_not_events_are_never_pinned() -> None:
    """is_pinned() of a plain value (an operator's output that is no event) is False."""
    assert tokens.is_pinned(3) is False
    assert tokens.is_pinned(None) is False


def test_sole_only_while_no_other_token_shares_the_message() -> None:
    """An operator may change an event in place only while it is the message's one token."""
    ev, _ = delivered(0)
    assert tokens.sole(ev)
    derived = tokens.fork(ev, 1)
    assert not tokens.sole(ev)
    assert not tokens.sole(derived)
    derived.ack()
    assert tokens.sole(ev)
    assert not tokens.sole(tokens.derive(ev, 2))


def test_holds_while_owning_a_token_or_keeping_events() -> None:
    """An event holds the commit back while it owns a token or keeps another event."""
    ev, _ = delivered(0)
    other, offsets_other = delivered(1)
    assert tokens.holds(ev)
    ev.ack()
    assert not tokens.holds(ev)
    tokens.attach(ev, other)
    assert tokens.holds(ev)
    assert ev.ack() is True
    assert offsets_other.acked == [1]
    assert not tokens.holds(ev)


def test_release_settles_an_event_or_every_event_of_a_batch() -> None:
    """A stream done with an item acks it; in a batch, values that are no events are skipped."""
    single, offsets_single = delivered(1)
    tokens.release(single)
    assert offsets_single.acked == [1]
    a, offsets_a = delivered(2)
    b, offsets_b = delivered(3)
    batch = [a, "not an event", b]
    tokens.release(batch)
    assert offsets_a.acked == [2]
    assert offsets_b.acked == [3]
    tokens.release("not an event")


def test_a_join_of_a_join_result_holds_every_input() -> None:
    """A result joined again waits for the inputs of both joins, and carries its value."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    third, offsets_third = delivered(3)
    inner = tokens.merge(left, (1, 2), [right])
    outer = tokens.merge(inner, ((1, 2), 3), [third])
    assert outer.value == ((1, 2), 3)
    for e in (left, right, third, inner):
        e.ack()
    assert offsets_left.acked == offsets_right.acked == offsets_third.acked == []
    outer.ack()
    assert offsets_left.acked == [1]
    assert offsets_right.acked == [2]
    assert offsets_third.acked == [3]


def test_unpin_also_unpins_what_the_event_keeps() -> None:
    """A join result that failed, then was let go of once its error policy decided (it owns
    no token of its own here), releases the inputs it held: they were pinned with it."""
    left, offsets_left = delivered(1)
    right, offsets_right = delivered(2)
    left.ack()  # the left token moved on: the result holds only the right input
    joined = tokens.merge(left, (1, 2), [right])
    right.ack()
    tokens.pin(joined)
    tokens.unpin(joined)
    del joined
    gc.collect()
    assert offsets_right.acked == [2]
    assert offsets_left.acked == [1]
