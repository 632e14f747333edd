"""A worker whose agent gets stuck on an event (for the CLI's Ctrl-C tests).

Ten events are on the embedded broker when the module is imported; the agent hangs on
the third and logs ``stuck`` (at WARNING, so the CLI's INFO logging shows it).
"""

from __future__ import annotations

import asyncio

import orjson

from rxstreams import App, Stream
from rxstreams.logging import get_logger
from rxstreams.types import ProducerConfig
from rxstreams_memory import MemoryBroker, MemoryTransport

broker = MemoryBroker()
broker.create_topic("jobs", 1)
_producer = MemoryTransport(broker=broker).create_producer(ProducerConfig(client_id="fill"))
for i in range(10):
    _producer.send_soon("jobs", orjson.dumps(i))

app = App("stuck", transport=MemoryTransport(broker=broker), shutdown_timeout=600)
log = get_logger(__name__)


@app.agent(app.topic("jobs", partitions=1))
async def work(stream: Stream[int]) -> None:
    async for v in stream:
        if v == 2:
            log.warning("stuck", value=v)
            await asyncio.sleep(3600)
