"""Stream: construction."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams import ArgumentTypeError, RxStreamsError, Stream
from tests.helpers import AppFactory


def test_stream_of_a_topic_is_its_stream(make_app: AppFactory) -> None:
    """Stream(topic) reads what topic.stream() reads."""
    topic = make_app("ctor").topic("t")
    assert {s.name for s in Stream[Any](topic).sources} == {"t"}


@pytest.mark.parametrize("bad", [(), (42,), ("orders",)])
def test_stream_without_a_topic_or_channel_is_refused(bad: tuple[Any, ...]) -> None:
    """Stream() and Stream(42) raise ArgumentTypeError (an RxStreamsError and a TypeError)
    naming what it takes, instead of an AttributeError from deep inside."""
    with pytest.raises(ArgumentTypeError, match="Topic or a Channel") as info:
        Stream(*bad)
    assert isinstance(info.value, RxStreamsError)
    assert isinstance(info.value, TypeError)
