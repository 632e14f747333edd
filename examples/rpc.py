"""An RPC agent, ported from Faust: ``await agent.ask(value)`` sends a request to the
agent's topic and waits for what the agent yields for it.

The agent serves requests from any process of the app; the reply travels through the
app's reply topic. A request that fails validation is refused at the caller, before
anything is sent.

    python examples/rpc.py                                 # the embedded broker
    BROKER=kafka://127.0.0.1:9092 python examples/rpc.py   # Kafka
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from rxstreams import App, Record, RecordError, Stream


class Add(Record):
    a: int
    b: int


app = App("rpc", broker=os.environ.get("BROKER", "memory://"), topic_partitions=2)


@app.agent(app.topic("adding", value_type=Add))
async def adding(stream: Stream[Add]) -> Any:
    """Reply to each request with the sum of its two numbers."""
    async for add in stream:
        yield add.a + add.b


async def main() -> None:
    async with app:
        print("4 + 4 =", await adding.ask(Add(a=4, b=4)))
        replies = await asyncio.gather(*(adding.ask(Add(a=i, b=i * 10)) for i in range(3)))
        print("i + 10 i for i in 0..2 =", replies)
        try:
            await adding.ask(Add(a=1, b="two"))  # type: ignore[arg-type]
        except RecordError as exc:
            print("refused before sending:", exc)


if __name__ == "__main__":
    asyncio.run(main())
