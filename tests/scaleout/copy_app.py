"""The app the exactly-once scale-out test runs in worker processes::

    rxstreams worker tests.scaleout.copy_app:app --broker kafka://127.0.0.1:PORT

It copies each keyed record of ``COPY_IN`` to ``COPY_OUT``, transformed (``seq`` kept, the
value doubled, the worker's pid added), with the same key, so each key's records stay in
order in one output partition. ``COPY_GUARANTEE`` is the app's ``processing_guarantee``;
names come from the environment so each test run has a group and topics of its own.
"""

from __future__ import annotations

import asyncio
import os

from rxstreams import App, Stream

#: seconds of (simulated) work every tenth record, so a kill lands mid-stream
WORK = float(os.environ.get("COPY_WORK", "0.002"))

app = App(
    os.environ.get("COPY_APP_ID", "copy"),
    processing_guarantee=os.environ.get("COPY_GUARANTEE", "exactly_once"),  # type: ignore[arg-type]
    topic_partitions=4,
    session_timeout=3.0,  # a killed worker's partitions move after about 3 s
    fetch_timeout=0.05,
    commit_interval=0.2,
    transaction_timeout=5.0,  # readers wait at most this long behind a killed worker
)

source = app.topic(os.environ.get("COPY_IN", "copy-in"), partitions=4)
target = app.topic(os.environ.get("COPY_OUT", "copy-out"), partitions=4)
pid = os.getpid()


@app.agent(source, name="copy")
async def copy(stream: Stream[dict[str, int]]) -> None:
    """Send each record on, transformed, under the same key."""
    async for event in stream.events():
        value = event.value
        if value["seq"] % 10 == 0:
            await asyncio.sleep(WORK)
        await target.send(
            key=event.key, value={"seq": value["seq"], "double": 2 * value["seq"], "pid": pid}
        )
