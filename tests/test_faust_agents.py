"""Faust's agent spellings: a topic name as the channel, declaration-time errors, default
topic names of nested functions, Agent.map/kvmap/join/kvjoin, test_context(), ask()
before the app runs, and typed replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rxstreams import (
    AgentError,
    AppStateError,
    ArgumentTypeError,
    ConfigurationError,
    Record,
    RecordError,
    Stream,
)
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed, fill

pytestmark = pytest.mark.looptime


class Order(Record):
    id: int
    amount: float


class Receipt(Record):
    order_id: int
    total: float


async def test_a_topic_name_is_a_topic(make_app: AppFactory, broker: MemoryBroker) -> None:
    """@app.agent("orders") reads the topic "orders", as in Faust."""
    fill(broker, "orders", [1, 2])
    app = make_app("by-name")

    @app.agent("orders")
    async def orders(stream: Stream[int]) -> AsyncIterator[int]:
        async for value in stream:
            yield value

    assert orders.channel is app.topic("orders")
    assert (await app.run(until_idle=True, timeout=30)).all == [1, 2]
    assert committed(broker, "by-name", "orders") == 2


@pytest.mark.parametrize(
    "fun",
    [
        lambda stream: None,
        pytest.param(print, id="builtin"),
    ],
)
def test_a_function_that_is_not_async_is_refused_at_declaration(
    make_app: AppFactory, fun: Any
) -> None:
    with pytest.raises(ConfigurationError, match="async def"):
        make_app().agent("t")(fun)


def test_a_plain_def_agent_is_refused_at_declaration(make_app: AppFactory) -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match=r"async def counter\(stream\)"):

        @app.agent("t")
        def counter(stream: Stream[int]) -> None:  # Faust needs async def too
            pass


def test_something_that_is_not_a_channel_is_refused_at_declaration(make_app: AppFactory) -> None:
    async def agent(stream: Stream[Any]) -> None:
        pass

    with pytest.raises(ArgumentTypeError, match="Topic, a Channel, a Stream or a topic name"):
        make_app().agent(42)(agent)


def test_a_bare_agent_decorator_is_refused_at_declaration(make_app: AppFactory) -> None:
    """@app.agent without parentheses would leave a decorator that never runs the
    function: refused at once, saying to add the parentheses."""
    app = make_app()
    with pytest.raises(ConfigurationError, match=r"write @app\.agent\(\)"):

        @app.agent
        async def forgotten(stream: Stream[int]) -> None:
            pass

    assert app.agents == {}


async def test_a_nested_agent_gets_a_valid_default_topic(make_app: AppFactory) -> None:
    """An agent declared inside a function (qualname with <locals>) reads a topic whose
    name Kafka accepts, and works."""
    app = make_app("nested")

    @app.agent()
    async def doubler(stream: Stream[int]) -> AsyncIterator[int]:
        async for value in stream:
            yield value * 2

    assert "<" not in doubler.channel.name
    assert doubler.channel.name.endswith("test_a_nested_agent_gets_a_valid_default_topic.doubler")
    await doubler.send(value=4)
    assert (await app.run(until_idle=True, timeout=30)).all == [8]


def _adder(app: Any) -> Any:
    @app.agent(app.topic("add"), concurrency=3)
    async def add(stream: Stream[list[int]]) -> AsyncIterator[int]:
        async for values in stream:
            if values == [13]:
                await asyncio.sleep(1)  # unlucky: replies later than the others
            yield sum(values)

    return add


async def test_join_and_kvjoin_return_the_replies_in_order(make_app: AppFactory) -> None:
    app = make_app("join")
    add = _adder(app)
    async with app:
        assert await add.join([[1, 2], [13], [3]]) == [3, 13, 3]
        assert await add.kvjoin([("a", [1]), ("b", [2, 2])]) == [1, 4]


async def test_map_and_kvmap_yield_the_replies_as_they_arrive(make_app: AppFactory) -> None:
    app = make_app("map")
    add = _adder(app)

    async def values() -> AsyncIterator[list[int]]:
        for v in ([13], [1], [2]):
            yield v

    async with app:
        assert [r async for r in add.map(values())] == [1, 2, 13]  # the slow one last
        assert sorted([r async for r in add.kvmap([("k", [5]), ("k", [6])])]) == [5, 6]


async def test_ask_before_the_app_runs_fails_at_once(make_app: AppFactory) -> None:
    """Not after the ask timeout: at once, saying what to do."""
    app = make_app("early")
    add = _adder(app)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AppStateError, match="async with app"):
        await add.ask([1])
    assert loop.time() - started < 0.1
    with pytest.raises(AppStateError):
        await add.join([[1]])


async def test_a_yielded_record_comes_back_as_the_reply_type(make_app: AppFactory) -> None:
    """ask(reply_type=Receipt) decodes the reply into a Receipt (validated); without it,
    the reply is the JSON value."""
    app = make_app("typed")

    @app.agent(app.topic("orders", value_type=Order))
    async def bill(stream: Stream[Order]) -> AsyncIterator[Receipt]:
        async for order in stream:
            yield Receipt(order_id=order.id, total=order.amount * 2)

    async with app:
        receipt = await bill.ask(Order(id=7, amount=2.5), reply_type=Receipt)
        assert receipt == Receipt(order_id=7, total=5.0)
        assert await bill.ask(Order(id=8, amount=1.0)) == {"order_id": 8, "total": 2.0}
        with pytest.raises(RecordError):
            await bill.ask(Order(id=9, amount=1.0), reply_type=Order)  # not an Order
        assert await bill.join([Order(id=1, amount=1.0)], reply_type=Receipt) == [
            Receipt(order_id=1, total=2.0)
        ]


async def test_test_context_runs_the_agent_alone(make_app: AppFactory) -> None:
    """agent.test_context() as in Faust: put() returns once the agent processed the value,
    results are keyed by the event's offset; the original app is not started."""
    app = make_app("original")

    @app.agent(app.topic("orders", value_type=Order))
    async def bill(stream: Stream[Order]) -> AsyncIterator[float]:
        async for order in stream:
            yield order.amount * 2

    async with bill.test_context() as tested:
        first = await tested.put(Order(id=1, amount=1.5))
        second = await tested.put(Order(id=2, amount=4.0))
        assert first.message is not None
        assert second.message is not None
        assert tested.results[first.message.offset] == 3.0
        assert tested.results[second.message.offset] == 8.0
        assert await tested.ask(Order(id=3, amount=1.0)) == 2.0
    assert app.state == "init"


async def test_test_context_put_waits_for_an_agent_that_yields_nothing(
    make_app: AppFactory,
) -> None:
    app = make_app("side-effects")
    seen: list[int] = []

    @app.agent(app.topic("t"))
    async def record(stream: Stream[int]) -> None:
        async for value in stream:
            await asyncio.sleep(0.5)
            seen.append(value)

    async with record.test_context() as tested:
        await tested.put(1)
        assert seen == [1]
        await tested.put(2)
        assert seen == [1, 2]


async def test_test_context_put_raises_the_agent_s_failure(make_app: AppFactory) -> None:
    app = make_app("fails")

    @app.agent(app.topic("t"))
    async def picky(stream: Stream[int]) -> None:
        async for value in stream:
            if value < 0:
                raise ValueError("negative")

    async with picky.test_context() as tested:
        await tested.put(1)
        with pytest.raises(AgentError, match="negative"):
            await tested.put(-1)


async def test_test_context_of_a_channel_agent(make_app: AppFactory) -> None:
    """An agent on a channel is tested on a channel: objects pass as they are."""
    app = make_app("channel")
    marker = object()

    @app.agent(app.channel())
    async def same(stream: Stream[Any]) -> AsyncIterator[bool]:
        async for value in stream:
            yield value is marker

    async with same.test_context() as tested:
        event = await tested.put(marker)
        assert event.message is not None
        assert tested.results == {event.message.offset: True}
