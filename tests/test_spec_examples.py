"""Every usage example of the API spec (shared/spec/faust-api.txt), run as a test.

Each is the spec's code with its placeholders (print, save, alert functions) filled in;
where the spec's own code cannot run as written, the docstring says what changed and why.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

import rxstreams
from rxstreams import App, Event, Stream, TopicPartition, register_codec
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed

pytestmark = pytest.mark.looptime


class _Attrs:
    """A codec whose values are objects with attributes (JSON objects on the wire)."""

    def dumps(self, obj: Any) -> bytes:
        return orjson.dumps(vars(obj) if isinstance(obj, SimpleNamespace) else obj)

    def loads(self, data: bytes) -> Any:
        return (
            orjson.loads(
                data,
            )
            if data[:1] != b"{"
            else SimpleNamespace(**orjson.loads(data))
        )


register_codec("attrs-test", _Attrs())


async def test_basic_agent_and_sending_to_it(make_app: AppFactory, broker: MemoryBroker) -> None:
    """`@app.agent(app.topic('orders'))` consuming with `async for`, fed by `agent.send()`."""
    app = make_app("spec-basic")
    printed: list[str] = []

    @app.agent(app.topic("orders"))
    async def process_orders(orders: Stream[Any]) -> None:
        async for order in orders:
            printed.append(f"Processing order: {order}")

    async with app:
        await process_orders.send({"id": 1, "amount": 100})
        while not printed:
            await asyncio.sleep(0.01)
    assert printed == ["Processing order: {'id': 1, 'amount': 100}"]
    assert committed(broker, "spec-basic", "orders") == 1


async def test_rpc_calculator_with_ask_and_cast(make_app: AppFactory) -> None:
    """The calculator agent replying explicitly to `reply_to` with `correlation_id`.

    Changed: the spec reads `calc.operation` and `calc.reply_to` off the value, but
    `ask()` sends a plain dict; the request's reply address is on the Event, so the agent
    iterates `calculations.events()` and reads the operation from `calc.value`. A `cast()`
    request has no reply address, so the reply is sent only when there is one.
    """
    app = make_app("spec-rpc")
    done: list[Any] = []

    def perform_calculation(operation: str, values: list[int]) -> int:
        return sum(values) if operation == "sum" else values[0] * values[1]

    @app.agent(app.topic("calculations"))
    async def calculator(calculations: Stream[Any]) -> None:
        async for calc in calculations.events():
            result = perform_calculation(calc.value["operation"], calc.value["values"])
            done.append(result)
            if calc.reply_to:
                await calc.send(calc.reply_to, key=calc.correlation_id, value=result)

    async with app:
        result = await calculator.ask({"operation": "sum", "values": [1, 2, 3]})
        calculator.cast({"operation": "multiply", "values": [4, 5]})
        while 20 not in done:
            await asyncio.sleep(0.01)
    assert result == 6
    assert done == [6, 20]


@dataclass
class Item:
    is_valid: bool
    processed_value: int


async def test_stream_transformations(make_app: AppFactory) -> None:
    """filter + map on attributes. Changed: the items travel on an in-process channel,
    which carries objects as they are (a JSON topic would carry dicts)."""
    app = make_app("spec-transform")
    raw_data = app.channel()
    saved: list[int] = []

    async def save_processed_item(item: int) -> None:
        saved.append(item)

    @app.agent(raw_data)
    async def transform_data(stream: Stream[Item]) -> None:
        async for item in stream.filter(lambda x: x.is_valid).map(lambda x: x.processed_value):
            await save_processed_item(item)

    for i in range(6):
        await raw_data.send(value=Item(is_valid=i % 2 == 0, processed_value=i * 10))
    await app.run(until_idle=True, timeout=30)
    assert saved == [0, 20, 40]


async def test_basic_stream_processing(make_app: AppFactory) -> None:
    """`async for number in stream` over a topic of numbers."""
    app = make_app("spec-numbers")
    numbers = app.topic("numbers")
    printed: list[str] = []

    @app.agent(numbers)
    async def process_numbers(stream: Stream[int]) -> None:
        async for number in stream:
            printed.append(f"Number: {number}")

    for n in (1, 2, 3):
        await numbers.send(value=n)
    await app.run(until_idle=True, timeout=30)
    assert printed == ["Number: 1", "Number: 2", "Number: 3"]


async def test_working_with_events(make_app: AppFactory, broker: MemoryBroker) -> None:
    """events(): forward successes and errors to topics, ack, reject fatal ones."""
    app = make_app("spec-events")
    success_topic = app.topic("success")
    error_topic = app.topic("errors")
    transactions = app.topic("transactions")
    fatal_seen = 0

    class ProcessingError(Exception):
        pass

    class FatalError(Exception):
        pass

    async def process_transaction(value: dict[str, Any]) -> dict[str, Any]:
        nonlocal fatal_seen
        if value["amount"] < 0:
            raise ProcessingError("negative amount")
        if value["amount"] == 13 and fatal_seen == 0:
            fatal_seen += 1
            raise FatalError("unlucky, try again")
        return {"id": value["id"], "ok": True}

    @app.agent(transactions)
    async def process_transactions(stream: Stream[Any]) -> None:
        async for event in stream.events():
            try:
                result = await process_transaction(event.value)
                await event.forward(
                    success_topic, value=result, headers={"processed_at": time.time()}
                )
                event.ack()
            except ProcessingError as exc:
                await event.forward(error_topic, value={"error": str(exc), "original": event.value})
                event.ack()  # Still ack to avoid reprocessing
            except FatalError:
                event.reject()

    for i, amount in enumerate([5, -1, 13, 7]):
        await transactions.send(key=f"t{i}", value={"id": i, "amount": amount})
    await app.run(until_idle=True, timeout=30)

    def values(topic: str) -> list[Any]:
        return [orjson.loads(m.value) for m in broker.records(TopicPartition(topic, 0))]  # type: ignore[arg-type]

    assert sorted(v["id"] for v in values("success")) == [0, 2, 3]
    assert values("errors") == [{"error": "negative amount", "original": {"id": 1, "amount": -1}}]
    headers = dict(broker.records(TopicPartition("success", 0))[0].headers)
    assert float(headers["processed_at"]) > 0
    assert committed(broker, "spec-events", "transactions") == 4


async def test_creating_custom_events(make_app: AppFactory, broker: MemoryBroker) -> None:
    """An Event built by hand and sent to a topic, with its key, headers and timestamp."""
    app = make_app("spec-custom")
    notifications_topic = app.topic("notifications")

    async def send_notification(user_id: str, message: str) -> None:
        event = Event(
            key=user_id,
            value=message,
            headers={"type": "notification", "priority": "high"},
            timestamp=time.time(),
        )
        await event.send(notifications_topic)

    await send_notification("u1", "hello")
    (record,) = broker.records(TopicPartition("notifications", 0))
    assert (record.key, record.value) == (b'"u1"', b'"hello"')
    assert dict(record.headers) == {"type": b"notification", "priority": b"high"}
    assert abs(record.timestamp / 1000 - time.time()) < 60
    await app.stop()


async def test_current_event_for_metadata_and_forwarding(
    make_app: AppFactory, broker: MemoryBroker
) -> None:
    """current_event() in an agent: partition metadata and header-based routing.

    Changed: `faust.current_event()` is `rxstreams.current_event()`; `order.id` needs a
    value with attributes, so the topic uses a codec that decodes JSON objects to
    SimpleNamespace."""
    app = make_app("spec-current", topic_partitions=2)
    orders = app.topic("orders", value_serializer="attrs-test")
    priority_processing_topic = app.topic("priority", value_serializer="attrs-test")
    normal_processing_topic = app.topic("normal", value_serializer="attrs-test")
    printed: list[str] = []

    @app.agent(orders)
    async def process_orders(orders: Stream[Any]) -> None:
        async for order in orders:
            event = rxstreams.current_event()
            printed.append(f"Processing order {order.id} from partition {event.message.partition}")
            if event.headers.get("priority") == "high":
                await event.forward(priority_processing_topic)
            else:
                await event.forward(normal_processing_topic)
            event.ack()

    await orders.send(key="a", value=SimpleNamespace(id=1), headers={"priority": "high"})
    await orders.send(key="b", value=SimpleNamespace(id=2))
    await app.run(until_idle=True, timeout=30)
    assert sorted(printed)[0].startswith("Processing order 1 from partition ")
    assert len(printed) == 2
    high = [m for p in range(2) for m in broker.records(TopicPartition("priority", p))]
    normal = [m for p in range(2) for m in broker.records(TopicPartition("normal", p))]
    assert [orjson.loads(m.value)["id"] for m in high] == [1]  # type: ignore[arg-type]
    assert [orjson.loads(m.value)["id"] for m in normal] == [2]  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        rxstreams.current_event()


def test_app_module_level_declarations() -> None:
    """Declaring topics and agents needs no running loop (module-level code)."""
    app = App("spec-module")
    topic = app.topic("orders")

    @app.agent(topic)
    async def process_orders(orders: Stream[Any]) -> None:
        async for _ in orders:
            pass

    assert process_orders.channel is topic
    assert process_orders.concurrency == 1
