"""Property: two workers of one group run a generated pipeline (as in
test_pipelines_property.py) over four partitions; at a generated point the second one
joins the group, leaves it gracefully or crashes (a rebalance), and later every worker
crashes (no join: see below). The committed offsets never pass a record whose work is
unfinished, at each step; after a restart every input is processed at least once and
everything is committed."""

from __future__ import annotations

import os
from typing import Any

import looptime
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.properties.pipelines import Plan, rebalance_then_crash
from tests.properties.test_pipelines_property import plans

EXAMPLES = int(os.environ.get("RXSTREAMS_PROPERTY_EXAMPLES", "200")) // 5


@pytest.mark.timeout(600)  # the examples together, not one
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    # no join: its windows live in the worker's memory, so a rebalance that moves one
    # side's partition loses the pairs it would have made (the unmatched inputs are then
    # acked as dropped); joins need window state in tables (planned)
    plans(partitions=st.just(4), joins=st.just(False)),
    st.sampled_from(["joins", "leaves", "crashes"]),
    st.integers(0, 12),
)
# found by this test: a mapped batch (buffer -> map) that also held events of partitions
# this worker still owned was dropped as revoked when its first event's partition was
@example(Plan(3, 4, False, (("buffer", 2), ("through_channel", 1)), "", 0, 1), "leaves", 0)
@example(Plan(3, 4, False, (("buffer", 2), ("tee", 1)), "", 0, 1), "joins", 1)
def test_a_rebalance_then_a_crash_never_commit_unfinished_work(
    plan: Plan, change: str, after: int
) -> None:
    loop: Any = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(rebalance_then_crash(plan, change, after))
    finally:
        loop.close()
