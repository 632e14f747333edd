"""Topics typed with value_type/key_type int, float, str and bytes, the same on every
broker: values round-trip with their Python type, and a wrong one is refused on send."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams import CodecError, Stream
from tests.contract.conftest import Cluster

CASES = [
    (int, [1, -7, 2**40]),
    (float, [1.5, 0.0, -2.25]),
    (str, ["a", "é", ""]),
    (bytes, [b"\x00\xff", b"x", b"yz"]),
]


@pytest.mark.parametrize(("kind", "values"), CASES, ids=[k.__name__ for k, _ in CASES])
async def test_typed_topic_round_trips_and_refuses_other_types(
    cluster: Cluster, kind: type, values: list[Any]
) -> None:
    """Keys and values of the declared type come back equal and of that type; a value of
    another type raises CodecError from send() and nothing is produced."""
    source, group = cluster.name("typed"), cluster.name("app")
    await cluster.create_topic(source, 1)
    app = cluster.app(group, topic_partitions=1)
    topic = app.topic(source, key_type=kind, value_type=kind)
    got: list[tuple[Any, Any]] = []

    @app.agent(topic)
    async def read(stream: Stream[Any]) -> None:
        async for key, value in stream.items():
            got.append((key, value))

    async with app:
        with pytest.raises(CodecError):
            await topic.send(value=[1])
        for v in values:
            await (await topic.send(key=v, value=v))
        await cluster.eventually(lambda: len(got) == len(values))
    assert got == [(v, v) for v in values]
    assert all(type(k) is kind and type(v) is kind for k, v in got)
    assert len(await cluster.records(source, 1)) == len(values)
