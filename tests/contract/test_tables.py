"""Tables, the same on every broker: a table written by an agent is kept in its changelog
topic and recovered by the group's next worker, which carries on counting."""

from __future__ import annotations

from typing import Any

from rxstreams import App, Stream
from tests.contract.conftest import Cluster

WORDS = [f"w{i % 37}" for i in range(600)]


def counter(cluster: Cluster, group: str, topic: str, **settings: Any) -> tuple[App, Any]:
    app = cluster.app(group, topic_partitions=3, **settings)
    counts = app.Table("counts", default=int)

    @app.agent(app.topic(topic, partitions=3), name="count")
    async def count(stream: Stream[str]) -> None:
        async for word in stream:
            counts[word] += 1

    return app, counts


async def test_a_table_is_recovered_by_the_next_worker_of_the_group(cluster: Cluster) -> None:
    """The first worker counts 600 keyed words and stops gracefully (its changelog
    records are sent before its final commit). 300 more words come; the next worker
    recovers all three partitions from the changelog before counting them: the counts
    are exactly those of the 900 words."""
    topic, group = cluster.name("words"), cluster.name("wc")
    await cluster.create_topic(topic, 3)
    sent = await cluster.produce(topic, [(w, w) for w in WORDS])
    first, counts = counter(cluster, group, topic)
    async with first:
        await cluster.wait_committed(group, topic, cluster.ends(sent, 3), within=30)
        assert sum(counts.values()) == len(WORDS)
    more = WORDS[:300]
    sent += await cluster.produce(topic, [(w, w) for w in more])
    second, again = counter(cluster, group, topic)
    async with second:
        await cluster.wait_committed(group, topic, cluster.ends(sent, 3), within=30)
        expected = {w: WORDS.count(w) + more.count(w) for w in set(WORDS)}
        assert again.as_dict() == expected
        assert again.active == {0, 1, 2}
    assert second.worker.tables is not None
    assert second.worker.tables.recovered_records >= len(set(WORDS))


async def test_an_exactly_once_table_is_exact_after_a_crashed_worker(cluster: Cluster) -> None:
    """Exactly once, the changelog records and the offsets are committed together: a
    worker crashed mid-stream (no commit, no abort; its open transaction is aborted at
    its timeout) leaves a changelog that the next worker recovers, and the next worker's
    counts are exactly those of the words, none counted twice."""
    topic, group = cluster.name("words"), cluster.name("wc")
    await cluster.create_topic(topic, 3)
    words = WORDS * 3
    sent = await cluster.produce(topic, [(w, w) for w in words])
    eos = {"processing_guarantee": "exactly_once", "transaction_timeout": 2.0}
    first, counts = counter(cluster, group, topic, **eos)
    await first.start()
    await cluster.eventually(lambda: sum(counts.values()) >= len(words) // 2, within=30)
    await cluster.crash(first)
    second, again = counter(cluster, group, topic, **eos)
    async with second:
        await cluster.wait_committed(group, topic, cluster.ends(sent, 3), within=60)
        assert again.as_dict() == {w: words.count(w) for w in set(WORDS)}
