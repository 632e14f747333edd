"""An enrichment agent, ported from the Faust habit: orders joined with what is known of
their customer, then forwarded to another topic.

In Faust the customers would live in a GlobalTable. Here one agent keeps the latest record
of each customer from the compacted-style ``customers`` topic, and the enrichment agent
looks each order's customer up; an order whose customer is not known yet is sent to
``orders-unmatched`` rather than dropped. Records are validated on send and on receipt.

    python examples/enrichment.py                                 # the embedded broker
    BROKER=kafka://127.0.0.1:9092 python examples/enrichment.py   # Kafka
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from decimal import Decimal

from rxstreams import App, Record, Stream, current_event


class Customer(Record):
    id: str
    name: str
    country: str


class Order(Record):
    id: int
    customer_id: str
    amount: Decimal


class EnrichedOrder(Record):
    order_id: int
    amount: Decimal
    customer_name: str
    country: str


app = App("enrichment", broker=os.environ.get("BROKER", "memory://"), topic_partitions=2)
customers_topic = app.topic("customers", key_type=str, value_type=Customer)
orders_topic = app.topic("orders", key_type=str, value_type=Order)
enriched_topic = app.topic("orders-enriched", key_type=str, value_type=EnrichedOrder)
unmatched_topic = app.topic("orders-unmatched", key_type=str, value_type=Order)

customers: dict[str, Customer] = {}
reported: list[int] = []


@app.agent(customers_topic)
async def track_customers(stream: Stream[Customer]) -> None:
    """Keep the latest record of every customer."""
    async for customer in stream:
        customers[customer.id] = customer


@app.agent(orders_topic)
async def enrich(stream: Stream[Order]) -> None:
    """Add the customer's name and country to each order."""
    async for order in stream:
        customer = customers.get(order.customer_id)
        if customer is None:
            await current_event().forward(unmatched_topic)
            continue
        enriched = EnrichedOrder(
            order_id=order.id,
            amount=order.amount,
            customer_name=customer.name,
            country=customer.country,
        )
        await enriched_topic.send(key=customer.country, value=enriched)


@app.agent(enriched_topic)
async def report(stream: Stream[EnrichedOrder]) -> None:
    async for order in stream:
        print(f"order {order.order_id}: {order.amount} from {order.customer_name} ({order.country})")
        reported.append(order.order_id)


@app.agent(unmatched_topic)
async def report_unmatched(stream: Stream[Order]) -> None:
    async for order in stream:
        print(f"order {order.id}: customer {order.customer_id} unknown")
        reported.append(order.id)


async def until(done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``done()`` (the agents run meanwhile)."""
    async with asyncio.timeout(timeout):
        while not done():
            await asyncio.sleep(0.01)


async def main() -> None:
    async with app:  # the agents run until the block ends
        for customer in (
            Customer(id="c1", name="Ada", country="UK"),
            Customer(id="c2", name="Grace", country="US"),
        ):
            await customers_topic.send(key=customer.id, value=customer)
        await until(lambda: len(customers) == 2)  # a GlobalTable would be recovered first
        for i, (customer_id, amount) in enumerate([("c1", "9.99"), ("c2", "120.00"), ("c9", "5")]):
            order = Order(id=i, customer_id=customer_id, amount=Decimal(amount))
            await orders_topic.send(key=customer_id, value=order)
        await until(lambda: len(reported) == 3)


if __name__ == "__main__":
    asyncio.run(main())
