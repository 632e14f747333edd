"""Per-partition ack tracking: what may be committed."""

from __future__ import annotations

from rxstreams.messages import TopicPartition
from rxstreams.runtime.offsets import PartitionOffsets

TP = TopicPartition("t", 0)


class Flow:
    def __init__(self, in_flight: int = 0, maxsize: int = 100) -> None:
        self.in_flight = in_flight
        self.paused = False
        self.resume_below = maxsize // 2
        self.resumed = 0

    def resume(self) -> None:
        self.paused = False
        self.resumed += 1


class Sink:
    def __init__(self, every: int = 1_000_000) -> None:
        self.acks = 0
        self.every = every
        self.due_calls = 0

    def due(self) -> None:
        self.acks = 0
        self.due_calls += 1


def make(committed: int | None = None, **kw: int) -> tuple[PartitionOffsets, Flow, Sink]:
    flow, sink = Flow(**kw), Sink()
    return PartitionOffsets(TP, flow, sink, committed), flow, sink


def test_in_order_acks_commit_one_past_the_last() -> None:
    """Acking 0..4 in order makes 5 (the next offset to read) committable."""
    po, _, _ = make()
    po.delivered([0, 1, 2, 3, 4])
    assert [po.ack(o) for o in range(5)] == [True] * 5
    assert po.to_commit() == 5


def test_out_of_order_acks_commit_only_the_contiguous_prefix() -> None:
    """An unacked offset holds the commit back however many later ones are acked."""
    po, _, _ = make()
    po.delivered([0, 1, 2, 3, 4])
    for o in (1, 3, 4):
        po.ack(o)
    assert po.to_commit() is None
    po.ack(0)
    assert po.to_commit() == 2
    po.ack(2)
    assert po.to_commit() == 5


def test_gaps_in_offsets_do_not_stall_commits() -> None:
    """Offsets never delivered (compaction, transaction markers) are not waited for."""
    po, _, _ = make(committed=10)
    po.delivered([12, 15, 16])
    po.ack(12)
    assert po.to_commit() == 13
    po.ack(16)
    po.ack(15)
    assert po.to_commit() == 17


def test_nothing_new_to_commit_returns_none() -> None:
    """After a commit, to_commit() is None until another ack moves the offset."""
    po, _, _ = make()
    po.delivered([0, 1])
    po.ack(0)
    po.committed = po.to_commit()
    assert po.to_commit() is None
    po.ack(1)
    assert po.to_commit() == 2


def test_acks_after_close_are_no_ops() -> None:
    """A revoked (closed) partition ignores acks and keeps its committable offset."""
    po, flow, _ = make()
    flow.in_flight = 3
    po.delivered([0, 1, 2])
    po.ack(0)
    assert po.close() == 2
    assert po.ack(1) is False
    assert po.committable == 1


def test_acks_resume_a_paused_source_below_the_low_mark() -> None:
    """Flow control: acks bring in-flight down and resume the source at half the limit."""
    po, flow, _ = make(maxsize=10)
    flow.in_flight = 10
    flow.paused = True
    po.delivered(list(range(10)))
    for o in range(4):
        po.ack(o)
    assert flow.resumed == 0
    po.ack(4)
    assert flow.resumed == 1
    assert flow.in_flight == 5


def test_every_n_acks_makes_a_commit_due() -> None:
    """The sink's due() fires each time `every` acks have piled up."""
    flow, sink = Flow(in_flight=10), Sink(every=3)
    po = PartitionOffsets(TP, flow, sink)
    po.delivered(list(range(7)))
    for o in range(7):
        po.ack(o)
    assert sink.due_calls == 2


def test_a_partition_resumed_at_its_committed_offset_has_nothing_to_commit() -> None:
    """Assigned with offset 10 committed: no commit until an ack moves past it."""
    po, _, _ = make(committed=10)
    assert po.to_commit() is None
    po.delivered([10, 11])
    po.ack(10)
    assert po.to_commit() == 11
