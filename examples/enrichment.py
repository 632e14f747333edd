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

CUSTOMERS = [
    Customer(id="c1", name="Ada", country="UK"),
    Customer(id="c2", name="Grace", country="US"),
]
ORDERS = [
    Order(id=0, customer_id="c1", amount=Decimal("9.99")),
    Order(id=1, customer_id="c2", amount=Decimal("120.00")),
    Order(id=2, customer_id="c9", amount=Decimal("5")),
]

customers: dict[str, Customer] = {}
reported: list[int] = []
customers_known = asyncio.Event()  # what a GlobalTable's recovery would give
all_reported = asyncio.Event()


@app.agent(customers_topic)
async def track_customers(stream: Stream[Customer]) -> None:
    """Keep the latest record of every customer."""
    async for customer in stream:
        customers[customer.id] = customer
        if len(customers) == len(CUSTOMERS):
            customers_known.set()


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
        print(
            f"order {order.order_id}: {order.amount} from {order.customer_name} ({order.country})"
        )
        done(order.order_id)


@app.agent(unmatched_topic)
async def report_unmatched(stream: Stream[Order]) -> None:
    async for order in stream:
        print(f"order {order.id}: customer {order.customer_id} unknown")
        done(order.id)


def done(order_id: int) -> None:
    reported.append(order_id)
    if len(reported) == len(ORDERS):
        all_reported.set()


async def main() -> None:
    async with app:  # the agents run until the block ends
        for customer in CUSTOMERS:
            await customers_topic.send(key=customer.id, value=customer)
        await asyncio.wait_for(customers_known.wait(), 30)
        for order in ORDERS:
            await orders_topic.send(key=order.customer_id, value=order)
        await asyncio.wait_for(all_reported.wait(), 30)


if __name__ == "__main__":
    asyncio.run(main())
