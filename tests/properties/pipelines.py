"""Generated pipelines for the property tests: a plan, the app it builds, and the invariant.

A plan is a chain of stages between the topic ``in`` and an agent (filter, map, buffer,
take, tee, through a channel or a topic, join with the topic ``right``, reactivex's
``scan`` and ``delay`` through ``pipe()``, group_by in the process or through a
repartition topic). Every value is a *bundle*: the list of the input ids it was derived
from, so the agent (and a tee's branch) can record which inputs' work it finished, and
each filter records the ids it dropped.

The invariant: for every partition of every topic the app consumes, every record below
the group's committed offset has had its work finished: each of its ids was finished by
the sink (and by the tee's branch, when one exists after the filters that let it
through), dropped by a filter, or handed to a topic downstream (``through`` a topic, a
repartition) whose own offsets the invariant covers in turn.

Plans are plain data (strings and ints): Hypothesis keeps references to what it drew,
and an Event it kept would never be freed, so never acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from reactivex import operators as ops

from rxstreams import App, Stream, TopicPartition
from rxstreams.testing import crash
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport

#: stages that may come anywhere in the middle of a plan
MIDDLE = ("filter", "map", "buffer", "take", "tee", "through_channel", "through_topic")
MIDDLE += ("scan", "delay")
#: at most once per plan
ONCE = ("take", "tee", "through_channel", "through_topic")
RIGHT_OFFSET = 1000  # ids of the records of "right" (the join's other side)


@dataclass(frozen=True)
class Plan:
    """What one example runs."""

    inputs: int  # records on "in" (ids 0..inputs-1)
    partitions: int
    join: bool  # the first stage joins "right" (one matching record per input)
    middle: tuple[tuple[str, int], ...]  # (stage, parameter)
    group_by: str  # "", "local" or "repartition": the last stage
    work: int  # virtual milliseconds the sink spends on each item
    crash_after: int  # crash once the sink finished this many items

    def without_take(self) -> Plan:
        """The plan a restarted worker runs: the same, but nothing limits the stream."""
        middle = tuple(stage for stage in self.middle if stage[0] != "take")
        return Plan(
            self.inputs,
            self.partitions,
            self.join,
            middle,
            self.group_by,
            self.work,
            self.crash_after,
        )

    def __str__(self) -> str:
        stages = ["join"] if self.join else []
        stages += [f"{name}({param})" for name, param in self.middle]
        if self.group_by:
            stages.append(f"group_by[{self.group_by}]")
        return (
            f"{self.inputs} inputs on {self.partitions} partitions -> {' -> '.join(stages)} "
            f"-> sink ({self.work} ms each), crash after {self.crash_after}"
        )


@dataclass
class Record:
    """What the instrumented pipeline saw, over every run on one broker."""

    finished: set[int] = field(default_factory=set)  # ids the sink finished
    branch: set[int] = field(default_factory=set)  # ids the tee's branch finished
    dropped: dict[int, set[int]] = field(default_factory=dict)  # stage index -> ids dropped
    items: int = 0  # items the sink finished in the current run
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def dropped_before(self, stage: int | None) -> set[int]:
        out: set[int] = set()
        for index, ids in self.dropped.items():
            if stage is None or index < stage:
                out |= ids
        return out


def produce(broker: MemoryBroker, plan: Plan) -> None:
    """The inputs: id i on "in" with key "k<i>" (and its match on "right")."""
    producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="p"))
    broker.create_topic("in", plan.partitions)
    if plan.join:
        broker.create_topic("right", plan.partitions)
    for i in range(plan.inputs):
        key = orjson.dumps(f"k{i}")
        partition = zlib.crc32(key) % plan.partitions
        producer.send_soon("in", orjson.dumps([i]), key=key, partition=partition, timestamp_ms=i)
        if plan.join:
            value = orjson.dumps([RIGHT_OFFSET + i])
            producer.send_soon("right", value, key=key, partition=partition, timestamp_ms=i)


def build(app: App, plan: Plan, record: Record) -> None:
    """Declare the plan's agent (and the tee's branch) on ``app``."""
    work = plan.work / 1000

    async def finish(bundle: list[int]) -> None:
        await asyncio.sleep(work)
        record.finished.update(bundle)
        record.items += 1
        if record.items >= plan.crash_after:
            record.reached.set()

    @app.agent(app.topic("in"), name="pipeline")
    async def pipeline(stream: Stream[Any]) -> None:
        s: Any = stream
        if plan.join:
            s = s.join(app.topic("right").stream(), within=2).map(lambda p: p[0] + p[1])
        for index, (name, param) in enumerate(plan.middle):
            s = _stage(app, s, index, name, param, record)
        if plan.group_by:
            name = "g" if plan.group_by == "repartition" else None

            async def group(key: Any, bundles: Stream[list[int]]) -> None:
                async for bundle in bundles:
                    await finish(bundle)

            await s.group_by(lambda b: b[0] % 3, name=name).each(group)
            return
        async for bundle in s:
            await finish(bundle)


def _stage(app: App, s: Any, index: int, name: str, param: int, record: Record) -> Any:
    if name == "filter":
        dropped = record.dropped.setdefault(index, set())

        def keep(bundle: list[int]) -> bool:
            ok = (bundle[0] + param) % 3 != 0
            if not ok:
                dropped.update(bundle)
            return ok

        return s.filter(keep)
    if name == "map":
        return s.map(lambda bundle: list(bundle))
    if name == "buffer":
        return s.buffer(param, timeout=0.5).map(lambda batch: [i for b in batch for i in b])
    if name == "take":
        return s.take(param)
    if name == "tee":
        branch = app.channel(name="branch")

        @app.agent(branch, name="branch")
        async def branch_sink(stream: Stream[list[int]]) -> None:
            async for bundle in stream:
                await asyncio.sleep(param)  # seconds: it may outlast a join window
                record.branch.update(bundle)

        return s.tee(branch)
    if name == "through_channel":
        return s.through(app.channel(name="between"))
    if name == "through_topic":
        return s.through(app.topic("mid"))
    if name == "scan":  # a reactivex operator rxstreams does not know: values, not events
        return s.pipe(ops.scan(lambda _acc, event: event.value, seed=None))
    if name == "delay":  # holds events for a while
        return s.pipe(ops.delay(param / 10))
    raise AssertionError(name)


def tee_index(plan: Plan) -> int | None:
    return next((i for i, (name, _) in enumerate(plan.middle) if name == "tee"), None)


def internal_topics(broker: MemoryBroker) -> list[str]:
    """The app's topics downstream of "in", in data-flow order (mid, then repartition)."""
    names = [n for n in broker.topics() if n not in ("in", "right")]
    return sorted(names, key=lambda n: ("repartition" in n, n))


def ids_of(broker: MemoryBroker, topic: str, partition: int, end: int | None = None) -> set[int]:
    out: set[int] = set()
    for m in broker.records(TopicPartition(topic, partition))[:end]:
        if m.value is not None:
            out.update(orjson.loads(m.value))
    return out


def check(broker: MemoryBroker, group: str, plan: Plan, record: Record) -> None:
    """The invariant (module doc), for every consumed topic and partition."""
    internal = internal_topics(broker)
    consumed = ["in", *(["right"] if plan.join else []), *internal]
    tee = tee_index(plan)
    done = record.finished | record.dropped_before(None)
    branch_done = record.branch | record.dropped_before(tee)
    for topic in consumed:
        downstream = internal if topic in ("in", "right") else internal[internal.index(topic) + 1 :]
        handed: set[int] = set()
        for d in downstream:
            for p in range(broker.partition_count(d) or 0):
                handed |= ids_of(broker, d, p)
        for p in range(broker.partition_count(topic) or 0):
            committed = broker.committed(group, TopicPartition(topic, p)) or 0
            below = ids_of(broker, topic, p, committed)
            unfinished = below - done - handed
            assert not unfinished, (
                f"{topic}[{p}] committed {committed} but the work of ids "
                f"{sorted(unfinished)} is not finished ({plan})"
            )
            if tee is not None and topic in ("in", "right"):
                missed = below - branch_done - handed
                assert not missed, (
                    f"{topic}[{p}] committed {committed} but the tee branch did not finish "
                    f"ids {sorted(missed)} ({plan})"
                )


def check_all_processed(broker: MemoryBroker, group: str, plan: Plan, record: Record) -> None:
    """After the restarted run: every input's work was done at least once, and every
    consumed partition is committed to its end."""
    everything = set(range(plan.inputs))
    if plan.join:
        everything |= {RIGHT_OFFSET + i for i in range(plan.inputs)}
    missing = everything - record.finished - record.dropped_before(None)
    assert not missing, f"ids {sorted(missing)} never processed ({plan})"
    for topic in ["in", *(["right"] if plan.join else []), *internal_topics(broker)]:
        for p in range(broker.partition_count(topic) or 0):
            tp = TopicPartition(topic, p)
            assert (broker.committed(group, tp) or 0) == broker.end_offset(tp), (
                f"{topic}[{p}] committed {broker.committed(group, tp)} of "
                f"{broker.end_offset(tp)} ({plan})"
            )


async def crash_then_restart(plan: Plan) -> None:
    """One worker runs the plan and is crashed at the plan's point; the invariant is checked
    there; a new worker runs the plan without take until idle; all is processed."""
    broker = MemoryBroker()
    produce(broker, plan)
    record = Record()
    first = new_app(broker, plan)
    build(first, plan, record)
    await first.start()
    with contextlib.suppress(TimeoutError):  # else the stream ended (take) or went idle
        await asyncio.wait_for(record.reached.wait(), 10)
    await crash(first)
    check(broker, "props", plan, record)
    await restart(broker, plan, record)


async def restart(broker: MemoryBroker, plan: Plan, record: Record) -> None:
    """A new worker runs the plan without take until idle: the invariant still holds, and
    every input was processed at least once."""
    record.items, record.reached = 0, asyncio.Event()
    again = new_app(broker, plan)
    build(again, plan.without_take(), record)
    await again.run(until_idle=True, timeout=300)
    check(broker, "props", plan, record)
    check_all_processed(broker, "props", plan, record)


def new_app(broker: MemoryBroker, plan: Plan) -> App:
    return App(
        "props",
        transport=MemoryTransport(broker=broker),
        topic_partitions=plan.partitions,
        commit_interval=0.05,
        commit_every=1,
        session_timeout=3.0,
    )


async def rebalance_then_crash(plan: Plan, change: str, after: int) -> None:
    """Worker A runs the plan; once the sink finished ``after`` items, ``change`` happens
    (worker B joins the group, or B had joined and now leaves gracefully, or crashes); once
    it finished ``plan.crash_after`` more, every worker crashes. The invariant is checked
    at each step; a new worker then runs the plan without take until idle."""
    broker = MemoryBroker()
    produce(broker, plan)
    record = Record()
    first = new_app(broker, plan)
    build(first, plan, record)
    await first.start()
    second = new_app(broker, plan)
    build(second, plan, record)
    if change != "joins":
        await second.start()  # both from the start: B leaves or crashes later
    await _until_items(record, after)
    if change == "joins":
        await second.start()
    elif change == "leaves":
        await second.stop()
    else:
        await crash(second)
    check(broker, "props", plan, record)
    await _until_items(record, after + plan.crash_after)
    await crash(first)
    if change == "joins":
        await crash(second)
    check(broker, "props", plan, record)
    await restart(broker, plan, record)


async def _until_items(record: Record, items: int, limit: float = 10.0) -> None:
    """Until the sinks finished ``items`` items in this run, or ``limit`` virtual seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while record.items < items and loop.time() < deadline:
        await asyncio.sleep(0.01)
