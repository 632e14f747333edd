"""Tables through crashes and rebalances, on the embedded broker in virtual time: the
table must equal a reference computed from the input."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from rxstreams import App, Stream
from rxstreams.testing import crash, wait_assigned
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, fill

pytestmark = pytest.mark.looptime

PARTS = 4


def counter(make_app: AppFactory, **settings: Any) -> tuple[App, Any, list[int]]:
    """A word-count app; the list counts the events its agent processed."""
    app = make_app("wc", topic_partitions=PARTS, commit_interval=0.5, **settings)
    counts = app.Table("counts", default=int)
    processed = [0]

    @app.agent(app.topic("words"), name="count")
    async def count(stream: Stream[str]) -> None:
        async for word in stream:
            counts[word] += 1
            processed[0] += 1
            if processed[0] % 500 == 0:
                await asyncio.sleep(0.01)  # let commits and crashes interleave

    return app, counts, processed


async def until(check: Any, within: float = 300.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "not in time"
        await asyncio.sleep(0.01)


async def test_a_word_count_crashed_at_random_points_equals_the_reference(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """100,000 keyed words (1,000 distinct); exactly-once workers are crashed (no commit,
    no abort) after a random number of events, three times, each replaced by a new
    worker that recovers the table from its changelog; the last one runs to the end.
    The table equals the words' Counter: no update lost, none applied twice."""
    rng = random.Random(17)
    words = [f"w{rng.randrange(1000)}" for _ in range(100_000)]
    fill(broker, "words", words, partitions=PARTS, key=lambda w: w)
    reference = Counter(words)
    for _ in range(3):
        app, counts, processed = counter(make_app, processing_guarantee="exactly_once")
        await app.start()
        stop_at = rng.randrange(5_000, 30_000)
        await until(lambda processed=processed, stop_at=stop_at: processed[0] >= stop_at)
        await crash(app)
    app, counts, processed = counter(make_app, processing_guarantee="exactly_once")
    async with app:
        await wait_assigned(app)
        await until(lambda: sum(counts.values()) >= len(words))
        await asyncio.sleep(2.0)  # anything counted twice would show by now
        assert counts.as_dict() == dict(reference)


async def test_two_workers_with_a_rebalance_keep_each_key_on_one_worker(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """One exactly-once worker counts; a second joins mid-stream (a rebalance: the first
    commits its changelog and offsets in a transaction, then hands two partitions over,
    which the second recovers). At the end each key lives on exactly one worker and the
    totals are exact. (At least once, the event being processed when the partitions move
    may be counted twice: its table update is in the changelog, its offset is not.)"""
    rng = random.Random(5)
    words = [f"w{rng.randrange(300)}" for _ in range(20_000)]
    fill(broker, "words", words, partitions=PARTS, key=lambda w: w)
    first, first_counts, first_done = counter(make_app, processing_guarantee="exactly_once")
    await first.start()
    await until(lambda: first_done[0] >= 5_000)
    second, second_counts, second_done = counter(make_app, processing_guarantee="exactly_once")
    await second.start()
    await until(lambda: sum(first_counts.values()) + sum(second_counts.values()) == len(words))
    assert first_counts.active | second_counts.active == set(range(PARTS))
    assert not first_counts.active & second_counts.active
    assert second_done[0] > 0
    assert not set(first_counts.keys()) & set(second_counts.keys())
    merged = {**first_counts.as_dict(), **second_counts.as_dict()}
    assert merged == dict(Counter(words))
    await second.stop()
    await first.stop()
