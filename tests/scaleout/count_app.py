"""The app the table scale-out test runs in worker processes::

    rxstreams worker tests.scaleout.count_app:app --broker kafka://127.0.0.1:PORT

It counts the records of ``COUNT_IN`` per key in the table ``counts`` (exactly-once, so
the changelog holds each key's exact count after crashes). Names come from the
environment so each test run has a group and topics of its own.
"""

from __future__ import annotations

import asyncio
import os

from rxstreams import App, Stream

#: seconds of (simulated) work every tenth record, so a kill lands mid-stream
WORK = float(os.environ.get("COUNT_WORK", "0.002"))

app = App(
    os.environ.get("COUNT_APP_ID", "count"),
    processing_guarantee="exactly_once",
    topic_partitions=4,
    session_timeout=3.0,
    fetch_timeout=0.05,
    commit_interval=0.2,
    transaction_timeout=5.0,
)

source = app.topic(os.environ.get("COUNT_IN", "count-in"), partitions=4)
counts = app.Table("counts", default=int)


@app.agent(source, name="count")
async def count(stream: Stream[dict[str, int]]) -> None:
    """Count each key's records."""
    async for event in stream.events():
        if event.value["seq"] % 10 == 0:
            await asyncio.sleep(WORK)
        counts[event.key] += 1
