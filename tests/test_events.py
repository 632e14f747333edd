"""Event: tokens, acks, the finalizer, pinning, headers and current_event()."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from rxstreams import Event, NoCurrentEventError, RxStreamsError, current_event
from rxstreams.events import decode_headers, encode_headers
from rxstreams.messages import Message


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
    ev: Event[Any, Any] = Event("k", value, message=msg)
    ev._owns = True
    ev._pending = 1
    ev.offsets = offsets  # type: ignore[assignment]
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
    a, b, c = ev._split(3)
    a.ack()
    b.ack()
    assert offsets.acked == []
    c.ack()
    assert offsets.acked == [3]


def test_derive_moves_the_token_to_the_new_event() -> None:
    """After map, acking the old event does nothing; acking the new one acks the offset."""
    ev, offsets = delivered(1)
    mapped = ev._derive(42)
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
    mapped = ev._derive(1)
    del ev
    assert offsets.acked == []
    del mapped
    gc.collect()
    assert offsets.acked == [9]


def test_a_pinned_event_is_never_acked_implicitly() -> None:
    """An event whose processing failed stays unacked even when freed."""
    ev, offsets = delivered(2)
    ev._pin()
    del ev
    gc.collect()
    assert offsets.acked == []


def test_a_held_event_stays_in_flight() -> None:
    """An event kept by an operator (here a list) is not acked."""
    ev, offsets = delivered(4)
    held = [ev._derive(ev.value)]
    del ev
    gc.collect()
    assert offsets.acked == []
    held.clear()
    assert offsets.acked == [4]


def test_metadata_from_the_message() -> None:
    """timestamp is seconds, headers decode to str, message carries the partition."""
    ev, _ = delivered(0)
    assert ev.timestamp == 1_700_000_000.0
    assert ev.headers == {"h": "x"}
    assert ev.message is not None
    assert ev.message.partition == 0
    ev.ack()


def test_custom_event_has_its_own_metadata() -> None:
    """Events built by users keep what they were given and are never acked."""
    ev: Event[str, str] = Event(key="u1", value="hi", headers={"type": "n"}, timestamp=12.5)
    assert (ev.key, ev.value, ev.headers, ev.timestamp) == ("u1", "hi", {"type": "n"}, 12.5)
    assert ev.ack() is False
    assert not ev.acked


def test_headers_encoding() -> None:
    """str and numbers are sent as UTF-8; bytes that are not UTF-8 come back as bytes."""
    wire = encode_headers({"a": "x", "b": 1.5, "c": b"\xff"})
    assert wire == (("a", b"x"), ("b", b"1.5"), ("c", b"\xff"))
    assert decode_headers(wire) == {"a": "x", "b": "1.5", "c": b"\xff"}


def test_current_event_outside_an_agent_raises() -> None:
    """current_event() outside an agent raises NoCurrentEventError: an RxStreamsError and
    the RuntimeError the Faust API names."""
    with pytest.raises(NoCurrentEventError, match="outside an agent") as info:
        current_event()
    assert isinstance(info.value, RxStreamsError)
    assert isinstance(info.value, RuntimeError)


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
    derived = ev._fork(99)
    ev.ack()
    assert offsets.acked == []
    derived.ack()
    assert offsets.acked == [8]


def test_keep_releases_the_kept_events_with_the_result() -> None:
    """A result keeping other events (a join) acks them when it is acked."""
    a, offsets_a = delivered(1)
    b, offsets_b = delivered(2)
    joined = a._fork((1, 2), keep=[b._fork(None)])
    a.ack()
    b.ack()
    assert offsets_a.acked == offsets_b.acked == []
    joined.ack()
    assert offsets_a.acked == [1]
    assert offsets_b.acked == [2]
