"""Request/reply with ``Agent.ask()``, the same on every broker: replies by ``yield`` and by
an explicit send to ``event.reply_to``, concurrent requests matched to their replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from rxstreams import Stream, current_event
from tests.contract.conftest import Cluster


async def test_ask_gets_each_request_s_own_reply(cluster: Cluster) -> None:
    """An agent that yields and one that sends to ``reply_to`` both answer ``ask()``;
    30 concurrent requests over two partitions each get the reply to their own value."""
    app = cluster.app(cluster.name("rpc"), topic_partitions=2)

    @app.agent(app.topic(cluster.name("adder")))
    async def adder(stream: Stream[list[int]]) -> AsyncIterator[int]:
        async for values in stream:
            yield sum(values)

    @app.agent(app.topic(cluster.name("upper")))
    async def upper(stream: Stream[str]) -> None:
        async for text in stream:
            event = current_event()
            assert event.reply_to is not None
            await event.send(event.reply_to, key=event.correlation_id, value=text.upper())

    async with app:
        assert await adder.ask([1, 2, 3], timeout=15) == 6
        assert await upper.ask("hello", timeout=15) == "HELLO"
        replies = await asyncio.gather(
            *(adder.ask([i, i], key=f"k{i}", timeout=15) for i in range(30))
        )
        assert replies == [2 * i for i in range(30)]


async def test_asking_leaves_no_reply_group_on_the_broker(cluster: Cluster) -> None:
    """The reply topic is read outside any consumer group: while the app runs and after
    it stopped, the broker knows no new group but the app's own."""
    app = cluster.app(cluster.name("rpc"))

    @app.agent(app.topic(cluster.name("echo")))
    async def echo(stream: Stream[str]) -> AsyncIterator[str]:
        async for text in stream:
            yield text

    before = await cluster.groups()
    async with app:
        assert await echo.ask("ping", timeout=15) == "ping"
        # a subset: the reply reader adds no group; the app's own group may or may not be
        # listed (yet, or still after the stop)
        assert (await cluster.groups() - before).issubset({app.id})
    assert (await cluster.groups() - before).issubset({app.id})
