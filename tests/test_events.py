"""Event: metadata, headers and current_event() (its tokens: tests/runtime/test_tokens.py)."""

from __future__ import annotations

import pytest

from rxstreams import Event, NoCurrentEventError, RxStreamsError, current_event
from rxstreams.events import decode_headers, encode_headers
from tests.runtime.test_tokens import delivered


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
