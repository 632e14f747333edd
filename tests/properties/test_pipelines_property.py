"""Property: for generated pipelines (filter, map, buffer, take, tee, through a channel or
a topic, join, reactivex's scan and delay through pipe(), group_by in the process or
through a repartition topic) and a crash at a generated point, the committed offsets
never pass a record whose work is unfinished; after a restart, every input is processed
at least once and everything is committed (tests/properties/pipelines.py has the
invariant).

Runs on the embedded broker in virtual time (looptime), one fresh event loop per example.
"""

from __future__ import annotations

import os
from typing import Any

import looptime
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.properties.pipelines import MIDDLE, ONCE, Plan, crash_then_restart

#: examples per run: 200 in CI; RXSTREAMS_PROPERTY_EXAMPLES=2000 for a thorough search
EXAMPLES = int(os.environ.get("RXSTREAMS_PROPERTY_EXAMPLES", "200"))


@st.composite
def plans(
    draw: st.DrawFn,
    partitions: st.SearchStrategy[int] | None = None,
    joins: st.SearchStrategy[bool] | None = None,
) -> Plan:
    inputs = draw(st.integers(1, 24))
    partitions = draw(partitions if partitions is not None else st.integers(1, 3))
    join = draw(joins if joins is not None else st.booleans())
    middle: list[tuple[str, int]] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(MIDDLE))
        if name in ONCE and any(name == m for m, _ in middle):
            continue
        middle.append((name, draw(st.integers(1, 5))))
    names = {m for m, _ in middle}
    choices = ["", "local"]
    if not join and "through_channel" not in names:
        choices.append("repartition")  # repartitioning reads exactly one topic
    group_by = draw(st.sampled_from(choices))
    work = draw(st.sampled_from([0, 10, 200, 5000]))  # 5 s: longer than a join's window
    crash_after = draw(st.integers(0, inputs * 2))
    return Plan(inputs, partitions, join, tuple(middle), group_by, work, crash_after)


def run(plan: Plan) -> None:
    loop: Any = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(crash_then_restart(plan))
    finally:
        loop.close()


@pytest.mark.timeout(600)  # the examples together, not one
@settings(max_examples=EXAMPLES, deadline=None)
@given(plans())
@example(Plan(4, 1, True, (("through_channel", 1),), "", 5000, 1))  # the runtime issue's defect
@example(Plan(6, 2, False, (("buffer", 3), ("filter", 1)), "", 10, 1))
@example(Plan(6, 1, False, (("tee", 5), ("take", 2)), "repartition", 10, 2))
# found by this test: join's windows were acked as dropped when a take after it ended
@example(Plan(2, 1, True, (("take", 1),), "", 0, 0))
# found by this test: group_by(name=) after pipe(scan) held its last input in flight
@example(Plan(1, 1, False, (("filter", 1), ("scan", 1)), "repartition", 0, 0))
# found by this test: through(channel) after pipe(scan) held its last input in flight
@example(Plan(1, 1, False, (("scan", 1), ("through_channel", 1)), "", 0, 0))
# found by this test: a value pipe(scan) derived from a join result did not hold the
# join's other inputs, which were committed while it was processed
@example(Plan(2, 2, True, (("scan", 1),), "", 5000, 0))
@example(Plan(2, 1, True, (("scan", 1), ("through_channel", 1), ("take", 1)), "", 0, 2))
# found by this test: run(until_idle=True) ended before the app read back a record it had
# just sent to its own repartition topic
@example(Plan(23, 1, False, (("take", 4), ("buffer", 2), ("buffer", 5)), "repartition", 10, 0))
def test_a_crash_never_commits_unfinished_work(plan: Plan) -> None:
    run(plan)
