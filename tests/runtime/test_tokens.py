"""Ack tokens: moving, splitting, holding, pinning and settling (runtime/tokens.py)."""

from __future__ import annotations

import gc
from typing import Any

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


def delivered(offset: int = 0, value: Any = "v") -> tuple[Event[Any, Any], Offsets]:
    """An event as a source hands it to one stream: it owns one token."""
    offsets = Offsets()
    msg = Message("t", 0, offset, 1_700_000_000_000, b"k", b"v", (("h", b"x"),))
    ev = tokens.root(Event, "k", value, msg, offsets)  # type: ignore[arg-type]
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
