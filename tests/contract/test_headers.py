"""Headers and timestamps, the same on every broker: what a producer set is what the agent
sees, and ``forward`` keeps both on the record it sends on."""

from __future__ import annotations

from typing import Any

from rxstreams import Stream, current_event
from tests.contract.conftest import Cluster, values

#: 2023-11-14 22:13:20.123 UTC, in milliseconds (a CreateTime well in the past)
WHEN_MS = 1_700_000_000_123


async def test_headers_and_timestamps_reach_the_agent_and_travel_on(cluster: Cluster) -> None:
    """UTF-8 header values come as str, others as bytes; the timestamp in seconds; the
    forwarded records carry the same headers (plus the agent's) and timestamp."""
    source, out, group = cluster.name("in"), cluster.name("out"), cluster.name("app")
    await cluster.create_topic(source, 1)
    sent = await cluster.produce(
        source,
        [("k", {"n": n}) for n in range(3)],
        headers={"trace": b"abc-123", "raw": b"\xff\x00"},
        timestamp_ms=WHEN_MS,
    )
    assert [md.timestamp for md in sent] == [WHEN_MS] * 3  # what the broker says it stored
    app = cluster.app(group, topic_partitions=1)
    seen: list[tuple[dict[str, Any], float, int | None]] = []
    target = app.topic(out, partitions=1)

    @app.agent(app.topic(source))
    async def relay(stream: Stream[dict[str, int]]) -> None:
        async for _ in stream:
            event = current_event()
            message = event.message
            seen.append((event.headers, event.timestamp, message and message.timestamp))
            await event.forward(target, headers={"hop": "relay"})

    async with app:
        await cluster.eventually(lambda: len(seen) == 3, what="three events")
        await cluster.wait_committed(group, source, {0: 3})
    assert seen == [({"trace": "abc-123", "raw": b"\xff\x00"}, WHEN_MS / 1000, WHEN_MS)] * 3
    forwarded = await cluster.records(out, 1)
    assert values(forwarded) == [{"n": n} for n in range(3)]
    for m in forwarded:
        assert dict(m.headers) == {"trace": b"abc-123", "raw": b"\xff\x00", "hop": b"relay"}
        assert m.timestamp == WHEN_MS
        assert m.key == b'"k"'
