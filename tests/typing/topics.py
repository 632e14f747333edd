"""User-style snippets for mypy --strict: App.topic is typed by its key and value types."""

from __future__ import annotations

from typing import Any, assert_type

from rxstreams import App, Record, Stream, Topic


class Order(Record):
    id: int
    amount: float


app = App("typing")

orders = app.topic("orders", key_type=str, value_type=Order, partitions=4)
assert_type(orders, Topic[str, Order])
assert_type(orders.stream(), Stream[Order])

by_key = app.topic("by-key", key_type=str)
assert_type(by_key, Topic[str, Any])

values = app.topic("values", value_type=Order, retention=3600.0)
assert_type(values, Topic[Any, Order])

untyped = app.topic("untyped", value_serializer="raw")
assert_type(untyped, Topic[Any, Any])


async def send_one() -> None:
    await orders.send(key="o-1", value=Order(id=1, amount=9.5))


counts = app.topic("counts", key_type=str, value_type=int)
assert_type(counts, Topic[str, int])
prices = app.topic("prices", value_type=float)
assert_type(prices, Topic[Any, float])

assert_type(Order.from_data({"id": 1, "amount": 2.0}), Order)
assert_type(Order(id=1, amount=2.0).asdict(), dict[str, Any])
assert_type(Order(id=1, amount=2.0).validate_or_raise(), None)
