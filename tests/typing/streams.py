"""User-style stream code that exists to be type-checked (mypy --strict), not run.

The operators with real signatures (through, echo, join, combine, concat, tee) accept what
they document and keep the value types; the public operators of rxstreams.operators go
into pipe().
"""

from __future__ import annotations

import sys
from typing import Any, assert_type

from reactivex import operators as ops

from rxstreams import App, GroupedStream, Stream
from rxstreams import operators as rxs

app = App("typing-streams")
orders = app.topic("orders", value_type=int)
audit = app.topic("audit")
channel = app.channel()

numbers = Stream[int](orders)
words = Stream[str](audit)


@app.agent(channel)
async def sink(stream: Stream[Any]) -> None:
    async for _ in stream:
        pass


# through: a topic, a channel, an agent or a topic name; the value type carries on
assert_type(numbers.through(audit), Stream[int])
assert_type(numbers.through(channel), Stream[int])
assert_type(numbers.through(sink), Stream[int])
assert_type(numbers.through("orders-copy"), Stream[int])

# echo: print (optionally to a file) or forward
assert_type(numbers.echo(), Stream[int])
assert_type(numbers.echo(file=sys.stderr), Stream[int])
assert_type(numbers.echo(audit, "orders-copy", sink), Stream[int])

# tee: the main branch keeps its type
assert_type(numbers.tee(channel, audit), Stream[int])

# join: two streams give typed pairs; more give tuples
pairs = numbers.join(words, within=5.0)
assert_type(pairs, Stream[tuple[int, str]])
assert_type(numbers.join(words, within=5, key=lambda v: v), Stream[tuple[int, str]])
assert_type(numbers.join(words, numbers, within=5.0), Stream[tuple[Any, ...]])

# mistakes the signatures catch (strict mode also flags an ignore that is not needed)
numbers.join(words)  # type: ignore[call-overload]
numbers.through(42)  # type: ignore[arg-type]
numbers.tee(numbers)  # type: ignore[arg-type]
numbers.echo(audit, file="err.log")  # type: ignore[arg-type]

# combine and concat: streams of one type stay typed
assert_type(numbers.combine(Stream[int](orders)), Stream[int])
assert_type(numbers.concat(Stream[int](orders), Stream[int](orders)), Stream[int])
assert_type(numbers.combine(words), Stream[Any])

# group_by: typed substreams
grouped: GroupedStream[Any, int] = numbers.group_by(lambda n: n % 2, name="parity")

# pipe with rxstreams' and reactivex's operators
piped: Stream[Any] = numbers.pipe(
    ops.distinct_until_changed(lambda event: event.value),
    rxs.filter(lambda v: v > 0),
    rxs.map(lambda v: v * 2),
    rxs.rate_limit(100.0, per=1.0),
    rxs.take(10, within=5.0),
    rxs.buffer(5, timeout=1.0),
)


async def consume() -> None:
    async for a, b in pairs:
        total: int = a
        word: str = b
        print(total, word)
