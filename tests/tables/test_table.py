"""Tables on the embedded broker: Faust's dict API, the partition rule, the changelog,
recovery on assignment, release on revocation, co-partitioning, changes as a stream."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from rxstreams import (
    AgentError,
    AppStateError,
    CodecError,
    ConfigurationError,
    MissingKeyError,
    Stream,
    TopicPartition,
)
from rxstreams.tables import TableChange
from rxstreams.testing import crash, wait_assigned
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "the", "end"]


def word_count(make_app: AppFactory, id: str = "wc", **settings: Any) -> Any:
    """An app counting the words of topic ``words`` (keyed by word) in table ``counts``."""
    app = make_app(id, topic_partitions=4, **settings)
    counts = app.Table("counts", default=int)

    @app.agent(app.topic("words"), name="count")
    async def count(stream: Stream[str]) -> None:
        async for word in stream:
            counts[word] += 1

    return app, counts


async def until(check: Any, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "not in time"
        await asyncio.sleep(0.05)


def changelog(broker: MemoryBroker, app_id: str, table: str, partitions: int) -> list[Any]:
    """``(partition, key, value)`` of every changelog record, in partition order."""
    out = []
    for p in range(partitions):
        for m in broker.records(TopicPartition(f"{app_id}-{table}-changelog", p)):
            value = None if m.value is None else orjson.loads(m.value)
            out.append((p, orjson.loads(m.key), value))
    return out


async def test_a_word_count_is_dict_like_and_its_changelog_holds_the_latest_values(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """counts[w] += 1 from an agent; reads, len, in, keys/values/items, get, del work as a
    dict's; the changelog (compacted, one partition per table partition) holds each key's
    latest count in the partition of the events that wrote it."""
    fill(broker, "words", WORDS, partitions=4, key=lambda w: w)
    app, counts = word_count(make_app)
    async with app:
        await until(lambda: sum(counts.values()) == len(WORDS))
        assert counts["the"] == 3
        assert counts["nothing"] == 0  # the default, not stored
        assert "nothing" not in counts
        assert len(counts) == 9
        assert sorted(counts.keys()) == sorted(set(WORDS))
        assert dict(counts.items()) == {w: WORDS.count(w) for w in set(WORDS)}
        assert counts.get("fox") == 1
        assert counts.get("wolf", -1) == -1
        assert counts.as_dict() == dict(counts.items())
        assert counts.active == {0, 1, 2, 3}
        await app.worker.committer.commit()
    spec = app.topics["wc-counts-changelog"].spec()
    assert (spec.partitions, spec.compacting, spec.internal) == (4, True, True)
    latest: dict[str, int] = {}
    for partition, word, value in changelog(broker, "wc", "counts", 4):
        assert partition == broker_partition(broker, "words", word)
        latest[word] = value
    assert latest == {w: WORDS.count(w) for w in set(WORDS)}


def broker_partition(broker: MemoryBroker, topic: str, key: str) -> int:
    """The partition the words topic holds ``key`` in."""
    for p in range(4):
        if any(orjson.loads(m.key) == key for m in broker.records(TopicPartition(topic, p))):
            return p
    raise AssertionError(key)


async def test_a_new_worker_recovers_the_table_before_it_gets_an_event(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """The first app counts and stops; the second app of the group recovers every
    partition from the changelog before its agent sees the next word, and goes on
    counting from there: the counts are those of all the words, once."""
    fill(broker, "words", WORDS, partitions=4, key=lambda w: w)
    first, counts = word_count(make_app)
    async with first:
        await until(lambda: sum(counts.values()) == len(WORDS))
    fill(broker, "words", ["the", "fox"], partitions=4, key=lambda w: w)
    second, again = word_count(make_app)
    seen_before_first_event: list[int] = []

    @second.agent(second.topic("words"), name="peek")
    async def peek(stream: Stream[str]) -> None:
        async for _ in stream:
            if not seen_before_first_event:
                seen_before_first_event.append(sum(again.values()))

    async with second:
        await until(lambda: sum(again.values()) == len(WORDS) + 2)
        assert again["the"] == 4
        assert again["fox"] == 2
    assert seen_before_first_event
    assert seen_before_first_event[0] >= len(WORDS)
    assert second.worker.tables is not None
    assert second.worker.tables.recovered_records == len(set(WORDS))


async def test_deleting_a_key_is_a_tombstone_and_recovery_forgets_it(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """del t[k] logs a record without a value; recovery removes the key; deleting a
    missing key is a MissingKeyError (a KeyError), as for a dict."""
    fill(broker, "cmds", [["set", "a", 1], ["set", "b", 2], ["del", "a", None]])
    app = make_app("kv")
    table = app.Table("kv")
    errors: list[BaseException] = []

    @app.agent(app.topic("cmds"))
    async def apply(stream: Stream[list[Any]]) -> None:
        async for op, key, value in stream:
            if op == "set":
                table[key] = value
            else:
                del table[key]
                try:
                    del table[key]
                except KeyError as exc:
                    errors.append(exc)

    async with app:
        await until(lambda: bool(errors))
        assert table.as_dict() == {"b": 2}
        with pytest.raises(MissingKeyError):
            table["a"]
    assert isinstance(errors[0], MissingKeyError)
    # the latest value per key since the last commit: "a" was set and deleted
    latest = {key: value for _, key, value in changelog(broker, "kv", "kv", 1)}
    assert latest == {"a": None, "b": 2}
    again = make_app("kv")
    recovered = again.Table("kv")
    again.topic("cmds")

    @again.agent(again.topic("cmds"))
    async def idle(stream: Stream[Any]) -> None:
        async for _ in stream:
            pass

    async with again:
        await wait_assigned(again)
        await until(lambda: recovered.active == {0})
        assert recovered.as_dict() == {"b": 2}


async def test_an_agent_using_a_table_with_another_partition_count_fails_at_start(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """Co-partitioning is checked when the app starts: an agent on a 3-partition topic
    whose function uses a 4-partition table is a ConfigurationError naming both counts,
    before anything is read or committed."""
    fill(broker, "three", [1], partitions=3)
    app = make_app("copart", topic_partitions=4)
    table = app.Table("t", default=int)

    @app.agent(app.topic("three", partitions=3), name="write")
    async def write(stream: Stream[int]) -> None:
        async for value in stream:
            table[value] += 1

    with pytest.raises(ConfigurationError) as refused:
        await app.start()
    message = str(refused.value)
    assert "agent write reads topic 'three', which has 3 partitions" in message
    assert "table 't', which has 4" in message
    assert app.state == "stopped"
    assert committed(broker, "copart", "three") is None


async def test_writing_outside_an_agent_or_from_another_partition_count_is_refused(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A write outside an agent says where writes belong; a table the start check cannot
    see (reached through a dict) written from a topic with another partition count stops
    the app at the first write, with a ConfigurationError naming both counts."""
    fill(broker, "three", [1], partitions=3)
    app = make_app("copart", topic_partitions=4)
    tables = {"t": app.Table("t", default=int)}
    with pytest.raises(AppStateError, match="outside an agent processing an event"):
        tables["t"]["x"] = 1

    @app.agent(app.topic("three", partitions=3))
    async def write(stream: Stream[int]) -> None:
        async for value in stream:
            tables["t"][value] += 1

    with pytest.raises(AgentError) as failed:
        async with app:
            await until(lambda: False, within=10)
    cause = failed.value.__cause__
    assert isinstance(cause, ConfigurationError)
    assert "table 't' has 4 partitions" in str(cause)
    assert "topic 'three', which has 3" in str(cause)
    assert committed(broker, "copart", "three") is None


async def test_table_changes_are_a_hot_stream_of_key_old_new(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """table.changes() streams every write and delete from now on as TableChange(key, old,
    new), through Stream operators, into another agent; nothing is kept while no stream
    listens."""
    app = make_app("ch", topic_partitions=1)
    table = app.Table("balances", default=int)
    seen: list[TableChange] = []

    @app.agent(app.topic("deposits"))
    async def deposit(stream: Stream[list[Any]]) -> None:
        async for account, amount in stream:
            if amount is None:
                del table[account]
            else:
                table[account] += amount

    @app.agent(table.changes().filter(lambda c: c.key != "ignored"))
    async def watch(stream: Stream[TableChange]) -> None:
        async for change in stream:
            seen.append(change)

    async with app:
        deposits = app.topic("deposits")
        for item in (["a", 10], ["ignored", 1], ["a", 5], ["b", 1], ["a", None]):
            await deposits.send(value=item)
        await until(lambda: len(seen) == 4)
    assert seen == [
        TableChange("a", None, 10),
        TableChange("a", 10, 15),
        TableChange("b", None, 1),
        TableChange("a", 15, None),
    ]


async def test_a_crashed_worker_s_table_is_recovered_by_the_next_one(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A worker counts, commits, then is crashed (no final commit); the next worker
    recovers the table from the changelog and the input after the last commit is
    counted again (at least once: the counts may be higher, never lower, than the
    words' counts)."""
    fill(broker, "words", WORDS * 10, partitions=4, key=lambda w: w)
    first, counts = word_count(make_app)
    await first.start()
    await until(lambda: sum(counts.values()) == len(WORDS) * 10)
    await first.worker.committer.commit()
    await crash(first)
    second, again = word_count(make_app)
    async with second:
        await until(lambda: again.active == {0, 1, 2, 3})
        await until(lambda: sum(again.values()) >= len(WORDS) * 10)
        assert {w: again[w] for w in set(WORDS)} == {w: WORDS.count(w) * 10 for w in set(WORDS)}


async def test_a_changelog_record_that_does_not_decode_stops_the_worker(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """A record of the changelog that is not JSON: recovery fails with a CodecError naming
    the table, partition and offset, and the app does not start with a silently empty
    table."""
    broker.create_topic("bad-t-changelog", 1)
    fill(broker, "bad-t-changelog", ["fine"], key=lambda v: "k1")
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig("corrupt"))
    producer.send_soon("bad-t-changelog", b"not json", key=b'"k2"')
    app = make_app("bad")
    app.Table("t")

    @app.agent(app.topic("in"))
    async def idle(stream: Stream[Any]) -> None:
        async for _ in stream:
            pass

    with pytest.raises(
        CodecError, match=r"table 't': changelog record bad-t-changelog\[0\] at offset 1"
    ):
        async with app:
            await until(lambda: False, within=10)
