"""The app the scale-out test runs in worker processes::

    rxstreams worker tests.scaleout.app_for_workers:app --broker kafka://127.0.0.1:PORT

Its names come from the environment, so each test run has a group and topic of its own
on the session's broker (``SCALEOUT_APP_ID``, ``SCALEOUT_TOPIC``), and its agent appends
one line per processed event to ``SCALEOUT_OUT/<pid>.jsonl``: ``[key, seq, partition,
offset, pid]``, flushed at once, so a worker killed with SIGKILL keeps every line of what it
processed. Each event takes a few milliseconds of (simulated) work, so a kill lands in the
middle of the stream.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson

from rxstreams import App, Stream, current_event

#: seconds of work per event
WORK = float(os.environ.get("SCALEOUT_WORK", "0.005"))

app = App(
    os.environ.get("SCALEOUT_APP_ID", "scaleout"),
    topic_partitions=4,
    session_timeout=2.0,  # a killed worker's partitions move after about 2 s
    fetch_timeout=0.05,
    commit_interval=0.3,
    max_poll_records=100,
)

jobs = app.topic(os.environ.get("SCALEOUT_TOPIC", "jobs"), partitions=4)


@app.agent(jobs, name="process")
async def process(stream: Stream[dict[str, int]]) -> None:
    """Do each job's work, then record (key, seq, partition, offset, pid) in this worker's file."""
    out_dir = Path(os.environ.get("SCALEOUT_OUT", "."))
    pid = os.getpid()
    with (out_dir / f"{pid}.jsonl").open("ab", buffering=0) as out:
        async for job in stream:
            await asyncio.sleep(WORK)  # the job's real work, in a real worker
            message = current_event().message
            assert message is not None
            line = [current_event().key, job["seq"], message.partition, message.offset, pid]
            out.write(orjson.dumps(line) + b"\n")
