"""Stream: construction, and the public operators of rxstreams.operators in pipe()."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex import operators as ops

from rxstreams import ArgumentTypeError, RxStreamsError, Stream
from rxstreams import operators as rxs
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill


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


@pytest.mark.looptime
async def test_public_operators_compose_with_reactivex_ones_in_pipe(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """``stream.pipe(ops.distinct_until_changed, rxs.filter, rxs.map, rxs.rate_limit,
    rxs.take, rxs.buffer)``: the batches come as each operator says, and only what the
    agent processed is committed (take ended the stream after 4 values)."""
    fill(broker, "readings", [1, 1, 2, 3, 3, 4, 5, 6, 7, 8])
    app = make_app("pipe-all")

    @app.agent(app.topic("readings"))
    async def batches(stream: Stream[int]) -> Any:
        async for batch in stream.pipe(
            ops.distinct_until_changed(lambda event: event.value),
            rxs.filter(lambda v: v != 2),
            rxs.map(lambda v: v * 10),
            rxs.rate_limit(100.0),
            rxs.take(4),
            rxs.buffer(3, timeout=1.0),
        ):
            yield batch

    result = await app.run(until_idle=True, timeout=30)
    assert result.all == [[10, 30, 40], [50]]
    # offsets 0-6 hold 1 1 2 3 3 4 5: the stream ended with the 5 at offset 6
    assert committed(broker, "pipe-all", "readings") == 7


def test_the_public_operators_are_the_ones_for_pipe() -> None:
    """rxstreams.operators exports plain names (no leading or trailing underscore), each a
    function returning an operator; the Stream-only operators are not among them."""
    assert rxs.__all__ == ("buffer", "filter", "map", "rate_limit", "take")
    for name in rxs.__all__:
        assert name.strip("_") == name, name
        assert callable(getattr(rxs, name)), name
        assert hasattr(Stream, name), name
    for name in ("filter_", "map_", "group_by", "join", "through", "tee"):
        assert not hasattr(rxs, name), name
