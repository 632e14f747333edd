"""Records: schemas from annotations, validation naming the field, codecs on topics."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import marshmallow
import pytest
from marshmallow.validate import Range

from rxstreams import ArgumentTypeError, ConfigurationError, RecordError, Stream
from rxstreams.records import Record, field
from rxstreams_memory import MemoryBroker
from tests.helpers import AppFactory, committed


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(Record):
    sku: str
    price: Decimal
    qty: int = field(default=1, validate=Range(min=1))


class Order(Record):
    id: int
    items: list[Item]
    placed_at: datetime
    by_warehouse: dict[str, Item] = field(default_factory=dict)
    note: str | None = None
    color: Color = Color.RED
    ref: uuid.UUID | None = None
    due: date | None = None
    blob: bytes = b""
    extra: Any = None


def order() -> Order:
    return Order(
        id=7,
        items=[Item("a", Decimal("1.50")), Item("b", Decimal("2"), qty=3)],
        placed_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        by_warehouse={"w1": Item("c", Decimal("0.10"))},
        note="gift",
        color=Color.BLUE,
        ref=uuid.UUID(int=5),
        due=date(2026, 12, 24),
        blob=b"\x00\xff",
        extra={"free": ["form"]},
    )


def test_round_trip_keeps_every_type() -> None:
    """dumps()/loads() give back an equal record: nested, lists, dicts, datetimes,
    decimals, enums, UUIDs, dates, bytes and free-form values."""
    o = order()
    assert Order.loads(o.dumps()) == o


def test_fast_codec_builds_the_same_record_without_validating() -> None:
    """Order.codec(validate=False) converts types but checks nothing: same result."""
    o = order()
    assert Order.codec(validate=False).loads(o.dumps()) == o


def test_defaults_and_optional_fields() -> None:
    """Missing optional fields take their defaults."""
    o = Order.loads(b'{"id": 1, "items": [], "placed_at": "2026-01-01T00:00:00"}')
    assert (o.note, o.color, o.by_warehouse, o.blob) == (None, Color.RED, {}, b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": "x", "items": [], "placed_at": "2026-01-01T00:00:00"}', "field 'id'"),
        (
            b'{"id": 1, "items": [{"sku": "a", "price": "zz"}], "placed_at": "2026-01-01"}',
            "field 'items.0.price'",
        ),
        (
            b'{"id": 1, "items": [], "placed_at": "2026-01-01", "items": [{"sku": "a", '
            b'"price": "1", "qty": 0}]}',
            "field 'items.0.qty': Must be greater",
        ),
        (b'{"items": []}', "field 'id': Missing data"),
        (b"[1, 2]", "expected a JSON object"),
        (b"{trunc", "not valid JSON"),
    ],
)
def test_errors_name_the_field_that_failed(data: bytes, message: str) -> None:
    """Validation errors are RecordError (a CodecError) naming the failing field."""
    with pytest.raises(RecordError, match=message):
        Order.loads(data)


def test_unsupported_field_type_is_refused_at_class_definition() -> None:
    """A field type with no JSON mapping fails when the class is defined, with
    ArgumentTypeError (a TypeError) listing the supported types. Today's code accepted the
    class and failed only when the schema was first built (at decode)."""
    with pytest.raises(ArgumentTypeError, match=r"Odd\.handle.*complex.*supported: int") as info:

        class Odd(Record):
            handle: complex

    assert isinstance(info.value, TypeError)
    with pytest.raises(ArgumentTypeError, match=r"set\[str\]"):

        class Tagged(Record):
            tags: set[str]


@pytest.mark.looptime
async def test_topic_value_type_decodes_records(make_app: AppFactory, broker: MemoryBroker) -> None:
    """A topic with value_type=Order gives agents Order objects; sending one encodes it."""
    app = make_app("records")
    orders = app.topic("orders", value_type=Order)
    got: list[Order] = []

    @app.agent(orders)
    async def read(stream: Stream[Order]) -> None:
        async for o in stream:
            got.append(o)

    await orders.send(value=order())
    await app.run(until_idle=True, timeout=30)
    assert got == [order()]
    assert committed(broker, "records", "orders") == 1


@pytest.mark.looptime
async def test_topic_accepts_a_marshmallow_schema(make_app: AppFactory) -> None:
    """value_type may be a plain marshmallow Schema: values are what it loads."""

    class Point(marshmallow.Schema):
        x = marshmallow.fields.Integer(required=True)
        y = marshmallow.fields.Integer(required=True)

    app = make_app("schema")
    points = app.topic("points", value_type=Point)
    got: list[dict[str, int]] = []

    @app.agent(points)
    async def read(stream: Stream[dict[str, int]]) -> None:
        async for p in stream:
            got.append(p)

    await points.send(value={"x": 1, "y": 2})
    await app.run(until_idle=True, timeout=30)
    assert got == [{"x": 1, "y": 2}]


def test_value_type_must_be_a_record_or_schema(make_app: AppFactory) -> None:
    """Anything else is refused when the topic is declared."""
    with pytest.raises(ConfigurationError, match="Record class, a marshmallow Schema, int"):
        make_app("bad").topic("t", value_type=complex)


@pytest.mark.parametrize(
    "data",
    [
        {"id": 1, "items": [{"sku": "a", "price": "1.5"}], "placed_at": "2026-01-01T00:00:00"},
        {
            "id": 1,
            "items": [{"sku": "a", "price": 2}],
            "placed_at": "2026-01-01T00:00:00+01:00",
            "color": "blue",
            "ref": str(uuid.UUID(int=9)),
            "due": "2026-02-03",
            "blob": "AP8=",
        },
        {"id": 1, "items": [], "placed_at": "2026-01-01T00:00:00", "unknown": "ignored"},
        {"id": 1, "items": [], "placed_at": "2026-01-01T00:00:00", "note": None},
    ],
)
def test_quick_checked_path_builds_what_marshmallow_builds(data: dict[str, Any]) -> None:
    """The fast validated path and the marshmallow schema agree on valid data."""
    assert Order.from_dict(data) == Order.schema().load(data)


def test_marshmallow_still_decides_what_the_quick_checks_refuse() -> None:
    """A float given as a numeric string is not plainly right, but marshmallow accepts it."""

    class Reading(Record):
        value: float

    assert Reading.from_dict({"value": "1.5"}) == Reading(1.5)
