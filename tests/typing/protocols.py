"""User-style code that exists to be type-checked (mypy --strict), not run.

Agent, Stream and Event satisfy the spec's AgentT, StreamT and EventT protocols, and
generic types survive operator chains.
"""

from __future__ import annotations

from rxstreams import Agent, AgentT, App, Event, EventT, Stream, StreamT
from rxstreams.records import Record

app = App("typing")
orders = app.topic("orders")


@app.agent(orders)
async def process(stream: Stream[int]) -> None:
    async for n in stream.filter(lambda n: n > 0).map(lambda n: n * 2):
        doubled: int = n
        print(doubled)


agent: AgentT = process
stream: StreamT = orders.stream()
event: EventT = Event(key="k", value=1)

typed: Agent[int] = process
mapped: Stream[str] = Stream[int](orders).map(str)
acked: bool = Event(key=1, value=2).ack()


class Order(Record):
    id: int
    note: str | None = None


order = Order(id=1)
order_id: int = order.id
note: str | None = order.note
loaded: Order = Order.loads(b'{"id": 1}')
