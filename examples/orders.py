"""The demo: orders -> filter -> running totals per account, on the embedded broker.

Produces 5,000 orders (seeded, so every run prints the same), runs two agents until every
order is processed, prints what they did and the offsets committed to the broker, and ends.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter

from rxstreams import App, TopicPartition, current_event
from rxstreams.logging import configure

app = App("orders-demo", broker="memory://demo", topic_partitions=4, commit_interval=0.5)
orders = app.topic("orders")
large_orders = app.topic("large-orders")

totals: Counter[str] = Counter()
large_seen: list[dict[str, object]] = []


@app.agent(orders)
async def running_totals(stream):  # type: ignore[no-untyped-def]
    """Keep a running total per account of the orders worth at least 10."""
    async for order in stream.filter(lambda o: o["amount"] >= 10):
        totals[order["account"]] += order["amount"]
        if order["amount"] >= 450:
            event = current_event()
            await event.forward(large_orders, headers={"flagged-by": "running_totals"})


@app.agent(large_orders)
async def report_large(stream):  # type: ignore[no-untyped-def]
    """Print every large order as it arrives."""
    async for event in stream.events():
        order = event.value
        large_seen.append(order)
        if len(large_seen) <= 5:
            m = event.message
            print(
                f"  large order {order['id']:>5} account={order['account']} "
                f"amount={order['amount']:>3}  (from {m.topic}[{m.partition}]@{m.offset}, "
                f"flagged-by={event.headers['flagged-by']})"
            )


async def produce(n: int) -> None:
    rng = random.Random(7)
    for i in range(n):
        account = f"acct-{rng.randrange(8)}"
        await orders.send(
            key=account, value={"id": i, "account": account, "amount": rng.randrange(500)}
        )


async def main() -> None:
    configure(level="INFO", file=sys.stdout)  # the library's structured logs
    n = 5_000
    print(f"producing {n} orders to topic 'orders' (4 partitions, keyed by account)")
    await produce(n)
    print("running agents running_totals and report_large until every order is processed")
    await app.run(until_idle=True, timeout=60)
    if len(large_seen) > 5:
        print(f"  ... and {len(large_seen) - 5} more large orders")
    print("running totals of orders >= 10, per account:")
    for account, total in sorted(totals.items()):
        print(f"  {account}: {total}")
    broker = app.transport.broker  # type: ignore[attr-defined]
    print("committed offsets of group 'orders-demo' (next offset to read):")
    for p in range(4):
        tp = TopicPartition("orders", p)
        print(
            f"  orders[{p}]: committed={broker.committed('orders-demo', tp)} "
            f"end={broker.end_offset(tp)}"
        )


if __name__ == "__main__":
    asyncio.run(main())
