"""Records: typed, dataclass-like models with a marshmallow schema built from annotations.

::

    class Item(Record):
        sku: str
        price: Decimal

    class Order(Record):
        id: int
        items: list[Item]
        placed_at: datetime
        note: str | None = None

    order = Order.loads(b'{"id": 1, "items": [...], "placed_at": "2026-11-29T10:00:00"}')
    order.dumps()

Supported field types: ``int``, ``float``, ``str``, ``bool``, ``bytes`` (base64),
``datetime``, ``date``, ``time``, ``Decimal``, ``UUID``, enums, nested Records,
``list[X]``, ``tuple[X, ...]`` (decoded as a tuple), ``dict[str, X]``, ``dict[int, X]``
(JSON's string keys become ints), bare ``list``/``dict``/``tuple`` (of ``Any``),
``X | None`` (optional, also as items), unions
(``int | str``: one of them, keeping the value's own type), ``Any``. Another type raises
:class:`~rxstreams.errors.ArgumentTypeError` (a :class:`TypeError`) when the class is
defined (an annotation naming a class defined later: when first used), and so does a union
of ``str`` with a type JSON also writes as a string (``datetime | str``).

Records are validated when built (``Order(id="x")`` raises
:class:`~rxstreams.errors.RecordError`) and when sent, before anything is produced; what JSON
cannot carry back (``nan``, a NaN ``Decimal``, a ``datetime`` in a ``date`` field) is refused,
so what was sent decodes.
``Order.id`` on the class is a :class:`FieldDescriptor`, a getter usable as a ``group_by``
key. Faust's class options ``serializer="json"``, ``validation=``,
``include_metadata=False`` and ``isodates=True`` are accepted; others are refused.
Defaults (and ``field(default_factory=...)``) make a field optional. ``field(validate=...)``
takes marshmallow validators. Type checkers see the real attribute types
(``dataclass_transform``), not ``Any``.

Decoding validates through marshmallow and raises :class:`~rxstreams.errors.RecordError`
naming the field that failed. ``Order.codec(validate=False)`` builds records straight from
the decoded JSON (types converted, nothing checked) for speed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import functools
import math
import types
import typing
import uuid
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, dataclass_transform

import marshmallow
import orjson
from marshmallow import fields as mf

from .codecs import compact
from .errors import ArgumentTypeError, CodecError, ConfigurationError, RecordError

__all__ = ("FieldDescriptor", "Record", "RecordCodec", "SchemaCodec", "field")

R = TypeVar("R", bound="Record")

_MISSING: Any = dataclasses.MISSING


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | Any = _MISSING,
    validate: Any = None,
    data_key: str | None = None,
) -> Any:
    """A Record field with a default, marshmallow validators, or another JSON name."""
    metadata = {"validate": validate, "data_key": data_key}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass_transform(field_specifiers=(field, dataclasses.field))
class Record:
    """Base class of typed records; subclasses become dataclasses with a schema."""

    __schema_cache: ClassVar[marshmallow.Schema | None] = None
    __fast_cache: ClassVar[Callable[[Any], Any] | None] = None
    __checked_cache: ClassVar[Callable[[Any], Any] | None] = None
    __dumper_cache: ClassVar[Callable[[Any], dict[str, Any]] | None] = None

    #: ``validation=False`` (a class option): construction does not validate (send does)
    _validation: ClassVar[bool] = True
    __validator_cache: ClassVar[Callable[[Any], None] | None] = None

    def __init_subclass__(
        cls,
        *,
        serializer: str | None = None,
        validation: bool | None = None,
        include_metadata: bool | None = None,
        isodates: bool | None = None,
        **kwargs: Any,
    ) -> None:
        _check_options(cls.__name__, serializer, include_metadata, isodates, kwargs)
        super().__init_subclass__()
        if validation is not None:
            cls._validation = bool(validation)
        dataclasses.dataclass(cls)
        cls.__schema_cache = None
        cls.__fast_cache = None
        cls.__checked_cache = None
        cls.__dumper_cache = None
        cls.__validator_cache = None
        _check_field_types(cls)
        raw_init = cls.__dict__["__init__"]
        cls._raw_init = raw_init

        @functools.wraps(raw_init)
        def __init__(self: Record, *args: Any, **kw: Any) -> None:
            raw_init(self, *args, **kw)
            kind = type(self)
            if kind._validation:
                validator = kind.__dict__.get("_Record__validator_cache")
                (validator or kind._validator())(self)

        cls.__init__ = __init__  # type: ignore[method-assign, assignment]
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            setattr(cls, f.name, FieldDescriptor(cls, f))
        _CLASSES[record_name(cls)] = cls

    _raw_init: ClassVar[Callable[..., None]]

    @classmethod
    def _new(cls: type[R], kwargs: dict[str, Any]) -> R:
        """Build without the constructor's validation (the data was just validated)."""
        obj = cls.__new__(cls)
        cls._raw_init(obj, **kwargs)
        return obj

    @classmethod
    def _validator(cls) -> Callable[[Any], None]:
        validator = cls.__dict__.get("_Record__validator_cache")
        if validator is None:
            validator = _instance_validator(cls)
            cls.__validator_cache = validator
        return validator

    # -- validation -----------------------------------------------------------------------------

    def validate_or_raise(self) -> None:
        """Check every field against its annotation; RecordError names the ones that fail."""
        self._validator()(self)

    def validate(self) -> list[RecordError]:
        """The validation errors of this record (Faust's spelling); empty when valid."""
        try:
            self._validator()(self)
        except RecordError as exc:
            return [exc]
        return []

    def is_valid(self) -> bool:
        """Whether every field matches its annotation."""
        return not self.validate()

    # -- schema ---------------------------------------------------------------------------------

    @classmethod
    def schema(cls) -> marshmallow.Schema:
        """The marshmallow schema of this record (built once, from the annotations)."""
        cached = cls.__dict__.get("_Record__schema_cache")
        if cached is None:
            hints = typing.get_type_hints(cls)
            declared: dict[str, mf.Field[Any]] = {}
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING
                )
                declared[f.name] = _field_for(hints[f.name], has_default, f.metadata)
            schema_cls = marshmallow.Schema.from_dict(declared, name=f"{cls.__name__}Schema")
            record_cls = cls

            class _Schema(schema_cls):  # type: ignore[misc, valid-type]
                class Meta:
                    unknown = marshmallow.EXCLUDE

                @marshmallow.post_load
                def _make(self, data: dict[str, Any], **_: Any) -> Any:
                    return record_cls._new(data)

            cached = _Schema()
            cls.__schema_cache = cached
        return cached

    # -- conversion -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (datetimes as ISO strings, decimals as strings).

        What the marshmallow schema's ``dump`` gives, built by per-field converters
        (several times faster); unions go through the schema's field.
        """
        return self._dumper()(self)

    @classmethod
    def _dumper(cls) -> Callable[[Any], dict[str, Any]]:
        dumper = cls.__dict__.get("_Record__dumper_cache")
        if dumper is None:
            dumper = _dumper(cls)
            cls.__dumper_cache = dumper
        return dumper

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """Validate ``data`` and build the record; RecordError names the failing field.

        Data that passes quick type checks is built directly (the common case, ~10x
        faster); anything else goes through the marshmallow schema, which accepts what it
        accepts and words the error.
        """
        try:
            return typing.cast(R, cls._checked()(data))
        except _Invalid:
            pass
        try:
            return typing.cast(R, cls.schema().load(data))
        except marshmallow.ValidationError as exc:
            raise RecordError(_describe(cls.__name__, exc.messages)) from exc

    @classmethod
    def from_data(cls: type[R], data: Mapping[str, Any]) -> R:
        """Faust's name for :meth:`from_dict`: validate ``data`` and build the record."""
        return cls.from_dict(data)

    def asdict(self) -> dict[str, Any]:
        """The fields and their values as they are (nested records stay records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_representation(self) -> dict[str, Any]:
        """Faust's name for :meth:`to_dict`: the record as JSON-ready data."""
        return self.to_dict()

    @classmethod
    def _checked(cls) -> Callable[[Any], Any]:
        checked = cls.__dict__.get("_Record__checked_cache")
        if checked is None:
            checked = _checked_builder(cls)
            cls.__checked_cache = checked
        return checked

    def dumps(self) -> bytes:
        """The record as JSON bytes, validated first (RecordError names a wrong field)."""
        self._validator()(self)
        data = self.to_dict()
        try:
            return compact(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
        except TypeError as exc:  # an Any field holding a set, an int past 64 bits...
            raise RecordError(_unencodable(type(self).__name__, data, exc)) from exc

    @classmethod
    def loads(cls: type[R], data: bytes) -> R:
        """Decode JSON bytes and validate them into a record."""
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"{cls.__name__}: not valid JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise RecordError(
                f"{cls.__name__}: expected a JSON object, got {type(decoded).__name__}"
            )
        return cls.from_dict(decoded)

    @classmethod
    def codec(cls, *, validate: bool = True) -> RecordCodec:
        """A codec for topics: ``app.topic("orders", value_serializer=Order.codec())``."""
        return RecordCodec(cls, validate=validate)

    @classmethod
    def _fast(cls) -> Callable[[Any], Any]:
        fast = cls.__dict__.get("_Record__fast_cache")
        if fast is None:
            fast = _fast_converter(cls)
            cls.__fast_cache = fast
        return fast

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{name}</th><td>{_escape(repr(getattr(self, name)))}</td></tr>"
            for name in (f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]
        )
        return f"<table><caption>{type(self).__name__}</caption>{rows}</table>"


#: the Record classes this program defined, by :func:`record_name` (internal topics name the
#: class of a value that is not of their source's type; only these classes are looked up)
_CLASSES: weakref.WeakValueDictionary[str, type[Record]] = weakref.WeakValueDictionary()


def record_name(cls: type[Record]) -> str:
    """``module.QualName`` of a Record class, as internal topics write it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def record_class(name: str) -> type[Record]:
    """The Record class this program defined under ``name`` (:func:`record_name`)."""
    try:
        return _CLASSES[name]
    except KeyError:
        raise ConfigurationError(
            f"no Record class {name!r} is defined in this program: an internal topic holds "
            "values of it (run the same code on every worker of the app)"
        ) from None


class RecordCodec:
    """Encodes and decodes one Record class (validated, or fast without validation)."""

    def __init__(self, record: type[Record], *, validate: bool = True) -> None:
        self.record = record
        self.validate = validate
        try:  # field types resolved now: an unsupported one is refused here, not at decode
            record._validator()
        except NameError as exc:
            raise ConfigurationError(
                f"{record.__name__}: a field annotation names something undefined: {exc}"
            ) from exc
        self._build = record._fast() if not validate else None

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, self.record):
            return obj.dumps()
        if isinstance(obj, Mapping):
            return self.record.from_dict(obj).dumps()
        raise CodecError(f"expected a {self.record.__name__}, not {type(obj).__name__}")

    def loads(self, data: bytes) -> Any:
        build = self._build
        if build is None:
            return self.record.loads(data)
        try:
            return build(orjson.loads(data))
        except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
            raise RecordError(f"{self.record.__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<RecordCodec {self.record.__name__} validate={self.validate}>"


class SchemaCodec:
    """A codec from a plain marshmallow Schema (values are what the schema loads)."""

    def __init__(self, schema: marshmallow.Schema | type[marshmallow.Schema]) -> None:
        self.schema = schema() if isinstance(schema, type) else schema

    def dumps(self, obj: Any) -> bytes:
        return compact(orjson.dumps(self.schema.dump(obj)))

    def loads(self, data: bytes) -> Any:
        try:
            return self.schema.load(orjson.loads(data))
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"{type(self.schema).__name__}: not valid JSON: {exc}") from exc
        except marshmallow.ValidationError as exc:
            raise RecordError(_describe(type(self.schema).__name__, exc.messages)) from exc


# -- building fields -----------------------------------------------------------------------------


def _field_for(tp: Any, has_default: bool, metadata: Mapping[str, Any]) -> mf.Field[Any]:
    optional, inner = _unwrap_optional(tp)
    kwargs: dict[str, Any] = {"required": not has_default, "allow_none": optional}
    if metadata.get("validate") is not None:
        kwargs["validate"] = metadata["validate"]
    if metadata.get("data_key"):
        kwargs["data_key"] = metadata["data_key"]
    return _make_field(inner, kwargs)


def _make_field(tp: Any, kwargs: dict[str, Any]) -> mf.Field[Any]:
    tp = _bare(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return mf.Raw(**kwargs)
    if isinstance(tp, type) and issubclass(tp, Record):
        return mf.Nested(lambda: tp.schema(), **kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return mf.Enum(tp, by_value=True, **kwargs)
    simple: dict[Any, type[mf.Field[Any]]] = {
        bool: mf.Boolean,
        int: mf.Integer,
        float: mf.Float,
        str: mf.String,
        dt.datetime: mf.DateTime,
        dt.date: mf.Date,
        dt.time: mf.Time,
        uuid.UUID: mf.UUID,
    }
    if tp is int:
        return mf.Integer(strict=True, **kwargs)
    if tp in simple:
        return simple[tp](**kwargs)
    if tp is Decimal:
        return mf.Decimal(as_string=True, **kwargs)
    if tp is bytes:
        return _Base64(**kwargs)
    if origin in (list, typing.List) or origin is typing.Sequence:  # noqa: UP006
        return mf.List(_nested_field(args[0] if args else Any), **kwargs)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _Tuple(_nested_field(args[0]), **kwargs)
    if origin in (dict, typing.Dict) or origin is Mapping:  # noqa: UP006
        key_tp = args[0] if len(args) == 2 else str
        value_tp = args[1] if len(args) == 2 else Any
        if key_tp is int:  # JSON keys are strings: "1" decodes to 1
            keys: mf.Field[Any] = mf.Integer(strict=False)
        elif key_tp is str or key_tp is Any:
            keys = mf.String()
        else:
            raise ArgumentTypeError(
                f"dict keys of type {key_tp!r} are not supported (str or int); "
                f"supported field types: {SUPPORTED_TYPES}"
            )
        return mf.Dict(keys=keys, values=_nested_field(value_tp), **kwargs)
    if origin in (typing.Union, types.UnionType):
        _check_distinct(tp, args)
        members = [(a, _make_field(a, {})) for a in args]
        return _Union(members, _type_name(tp), **kwargs)
    raise ArgumentTypeError(_unsupported(tp))


#: types written as JSON strings: in a union with ``str`` a decoder could not tell them apart
_STRING_FORMS = (dt.datetime, dt.date, dt.time, uuid.UUID, Decimal, bytes, enum.Enum)


def _check_distinct(tp: Any, args: tuple[Any, ...]) -> None:
    if str not in args:
        return
    for a in args:
        if a is not str and isinstance(a, type) and issubclass(a, _STRING_FORMS):
            raise ArgumentTypeError(
                f"{_type_name(tp)}: a {a.__name__} is written as a JSON string, so it could "
                f"not be told from a str when decoded; use one of them, or a Record per case"
            )


def _bare(tp: Any) -> Any:
    """``list``, ``dict`` and ``tuple`` without parameters: of ``Any`` (str keys)."""
    if tp is list:
        return list[Any]
    if tp is dict:
        return dict[str, Any]
    if tp is tuple:
        return tuple[Any, ...]
    return tp


def _nested_field(tp: Any) -> mf.Field[Any]:
    """The field of a list's items or a dict's values (``list[int | None]`` allows None)."""
    optional, inner = _unwrap_optional(tp)
    return _make_field(inner, {"allow_none": True} if optional else {})


class _Tuple(mf.List[Any]):
    """``tuple[X, ...]``: a JSON array that decodes to a tuple."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return tuple(super()._deserialize(value, attr, data, **kwargs))


def _unwrap_optional(tp: Any) -> tuple[bool, Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return False, tp


class _Base64(mf.Field[Any]):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else base64.b64encode(value).decode()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError) as exc:
            raise marshmallow.ValidationError("Not valid base64.") from exc


# -- encoding: what the schema's dump gives, without marshmallow ------------------------------

#: a field whose value the schema's own field serializes (unions)
_BY_SCHEMA: Any = object()


def _dumper(cls: type[Record]) -> Callable[[Any], dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    schema_fields = cls.schema().fields
    plan = [
        (f.name, f.metadata.get("data_key") or f.name, _dump_for(hints[f.name]))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    ]

    def dump(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key, convert in plan:
            value = getattr(obj, attr)
            if value is None or convert is None:
                out[key] = value
            elif convert is _BY_SCHEMA:
                out[key] = schema_fields[attr].serialize(attr, obj)
            else:
                out[key] = convert(value)
        return out

    return dump


def _dump_for(tp: Any) -> Any:
    """A value's JSON-ready form as marshmallow's field writes it; None: the value as it
    is (orjson writes it the same); _BY_SCHEMA: ask the schema's field."""
    _, tp = _unwrap_optional(tp)
    tp = _bare(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is int or tp is str or tp is bool:
        return None
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp._dumper()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_value
    converters: dict[Any, Callable[[Any], Any]] = {
        float: float,
        dt.datetime: _isoformat,
        dt.date: _isoformat,
        dt.time: _isoformat,
        Decimal: _decimal_text,
        uuid.UUID: str,
        bytes: _base64,
    }
    if tp in converters:
        return converters[tp]
    if origin in (list, tuple) or origin is typing.Sequence:
        item = _dump_for(args[0]) if args else None
        if item is None:
            return list
        if item is _BY_SCHEMA:
            return _BY_SCHEMA
        return lambda values: [None if v is None else item(v) for v in values]
    if origin in (dict, Mapping):
        value = _dump_for(args[1]) if len(args) == 2 else None
        if value is _BY_SCHEMA:
            return _BY_SCHEMA
        if len(args) == 2 and args[0] is int:
            if value is None:
                return lambda mapping: {int(k): v for k, v in mapping.items()}
            return lambda mapping: {
                int(k): None if v is None else value(v) for k, v in mapping.items()
            }
        if value is None:
            return dict
        return lambda mapping: {k: None if v is None else value(v) for k, v in mapping.items()}
    return _BY_SCHEMA


def _enum_value(value: Any) -> Any:
    return value.value


def _isoformat(value: Any) -> Any:
    return value.isoformat()


def _decimal_text(value: Any) -> str:
    return format(Decimal(str(value)), "f")


def _base64(value: Any) -> str:
    return base64.b64encode(value).decode()


# -- the fast path (no validation) -------------------------------------------------------------


def _fast_converter(cls: type[Record]) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls)
    converters: list[tuple[str, str, Callable[[Any], Any] | None]] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata.get("data_key") or f.name
        converters.append((f.name, name, _convert_for(hints[f.name])))

    new = cls.__new__
    init = cls._raw_init

    def build(data: Any) -> Any:
        kwargs = {}
        for attr, key, convert in converters:
            if key in data:
                value = data[key]
                kwargs[attr] = value if convert is None or value is None else convert(value)
        obj = new(cls)
        init(obj, **kwargs)
        return obj

    return build


def _convert_for(tp: Any) -> Callable[[Any], Any] | None:
    tp = _bare(tp)
    _, tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp._fast()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    converters: dict[Any, Callable[[Any], Any]] = {
        dt.datetime: dt.datetime.fromisoformat,
        dt.date: dt.date.fromisoformat,
        dt.time: dt.time.fromisoformat,
        Decimal: lambda v: Decimal(str(v)),
        uuid.UUID: uuid.UUID,
        bytes: base64.b64decode,
    }
    if tp in converters:
        return converters[tp]
    if origin in (list, tuple) and args:
        item = _convert_for(args[0])
        if origin is tuple:
            return tuple if item is None else _each_tuple(item)
        return None if item is None else _each(item)
    if origin is dict and len(args) == 2:
        value = _convert_for(args[1])
        if args[0] is int:
            return _int_keys(value)
        return None if value is None else _each_value(value)
    return None


def _int_keys(convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if convert is None:
        return lambda mapping: {int(k): v for k, v in mapping.items()}
    return lambda mapping: {int(k): None if v is None else convert(v) for k, v in mapping.items()}


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda values: [None if v is None else convert(v) for v in values]


def _each_tuple(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda values: tuple(None if v is None else convert(v) for v in values)


def _each_value(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda mapping: {k: None if v is None else convert(v) for k, v in mapping.items()}


# -- the checked fast path (validation without marshmallow, when the data is plainly right) --


class _Invalid(Exception):
    """The quick checks failed: let marshmallow decide (and word the error)."""


def _checked_builder(cls: type[Record]) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls)
    plan: list[tuple[str, str, bool, Callable[[Any], Any], Any]] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        key = f.metadata.get("data_key") or f.name
        plan.append((f.name, key, required, _check_for(hints[f.name]), f.metadata.get("validate")))
    new = cls.__new__
    init = cls._raw_init

    def build(data: Any) -> Any:
        if type(data) is not dict:
            raise _Invalid
        kwargs = {}
        for attr, key, required, check, validate in plan:
            if key in data:
                value = check(data[key])
                if validate is not None:
                    for v in validate if isinstance(validate, list | tuple) else (validate,):
                        try:
                            v(value)
                        except marshmallow.ValidationError:
                            raise _Invalid from None
                kwargs[attr] = value
            elif required:
                raise _Invalid
        obj = new(cls)
        init(obj, **kwargs)
        return obj

    return build


def _check_for(tp: Any) -> Callable[[Any], Any]:
    optional, tp = _unwrap_optional(tp)
    inner = _check_inner(tp)
    if not optional:

        def not_none(value: Any) -> Any:
            if value is None:
                raise _Invalid
            return inner(value)

        return not_none
    return lambda value: None if value is None else inner(value)


def _check_item(tp: Any) -> Callable[[Any], Any]:
    """The check of a list's item or a dict's value: None passes only when optional (the
    inner checks refuse None already, so a plain type needs no wrapper)."""
    optional, _ = _unwrap_optional(tp)
    return _check_for(tp) if optional else _check_inner(tp)


def _check_inner(tp: Any) -> Callable[[Any], Any]:
    tp = _bare(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return _same
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp._checked()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _guard(tp)
    if tp is int:
        return _exact(int)
    if tp is bool:
        return _exact(bool)
    if tp is str:
        return _exact(str)
    if tp is float:

        def number(value: Any) -> Any:
            if type(value) is float or type(value) is int:
                return float(value)
            raise _Invalid

        return number
    parsers: dict[Any, Callable[[Any], Any]] = {
        dt.datetime: dt.datetime.fromisoformat,
        dt.date: dt.date.fromisoformat,
        dt.time: dt.time.fromisoformat,
        uuid.UUID: uuid.UUID,
    }
    if tp in parsers:
        return _guard(parsers[tp], str)
    if tp is Decimal:
        return _guard(lambda v: Decimal(str(v)), str | int | float)
    if tp is bytes:
        return _guard(lambda v: base64.b64decode(v, validate=True), str)
    if origin in (list, tuple) and args:
        item = _check_item(args[0])

        if origin is tuple:

            def each_in_tuple(value: Any) -> Any:
                if type(value) is not list:
                    raise _Invalid
                return tuple([item(v) for v in value])

            return each_in_tuple

        def each(value: Any) -> Any:
            if type(value) is not list:
                raise _Invalid
            return [item(v) for v in value]

        return each
    if origin is dict and len(args) == 2:
        item = _check_item(args[1])
        if args[0] is int:

            def each_int_key(value: Any) -> Any:
                if type(value) is not dict:
                    raise _Invalid
                out = {}
                for k, v in value.items():
                    if type(k) is int:
                        out[k] = item(v)
                    elif type(k) is str and k.lstrip("-").isdigit():
                        out[int(k)] = item(v)
                    else:
                        raise _Invalid
                return out

            return each_int_key
        if args[0] is not str:
            return _always_invalid

        def each_value(value: Any) -> Any:
            if type(value) is not dict:
                raise _Invalid
            return {k: item(v) for k, v in value.items()}

        return each_value
    if origin in (typing.Union, types.UnionType) and all(a in (int, str, bool) for a in args):
        kinds = tuple(args)

        def one_of(value: Any) -> Any:
            if type(value) not in kinds:
                raise _Invalid
            return value

        return one_of
    return _always_invalid  # anything unusual: marshmallow handles it


def _always_invalid(value: Any) -> Any:
    raise _Invalid


def _same(value: Any) -> Any:
    return value


def _exact(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Invalid
        return value

    return check


def _guard(parse: Callable[[Any], Any], kinds: Any = object) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kinds):
            raise _Invalid
        try:
            return parse(value)
        except (ValueError, TypeError, ArithmeticError):
            raise _Invalid from None

    return check


# -- errors ------------------------------------------------------------------------------------


def _describe(name: str, messages: Any) -> str:
    """'Order: field 'items.0.price': Not a valid number.' from marshmallow's messages."""
    parts: list[str] = []

    def walk(path: str, msg: Any) -> None:
        if isinstance(msg, Mapping):
            for k, v in msg.items():
                walk(f"{path}.{k}" if path else str(k), v)
        elif isinstance(msg, list) and msg and all(isinstance(m, str) for m in msg):
            parts.append(f"field {path!r}: {' '.join(msg)}")
        elif isinstance(msg, list):
            for i, m in enumerate(msg):
                walk(f"{path}.{i}", m)
        else:
            parts.append(f"field {path!r}: {msg}")

    walk("", messages)
    return f"{name}: " + "; ".join(parts)


def _unencodable(name: str, data: Mapping[str, Any], exc: TypeError) -> str:
    """'Order: field 'extra' cannot be encoded as JSON: ...' (the first field that fails)."""
    for key, value in data.items():
        try:
            orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as field_exc:
            return f"{name}: field {key!r} cannot be encoded as JSON: {field_exc}"
    return f"{name}: cannot be encoded as JSON: {exc}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- class options, field types and descriptors ------------------------------------------------

SUPPORTED_TYPES = (
    "int, float, str, bool, bytes, datetime, date, time, Decimal, UUID, enums, nested Records, "
    "list[X], tuple[X, ...], dict[str | int, X] (bare list, tuple, dict: of Any), X | None, "
    "Union[X, Y] and Any"
)

_OPTIONS_HELP = (
    "Record class options supported: serializer='json', validation=True/False, "
    "include_metadata=False, isodates=True"
)


def _check_options(
    name: str,
    serializer: str | None,
    include_metadata: bool | None,
    isodates: bool | None,
    others: Mapping[str, Any],
) -> None:
    """Faust's Record class options: the ones that make sense here, or a clear refusal."""
    if serializer not in (None, "json"):
        raise ConfigurationError(
            f"{name}: Records are JSON (serializer={serializer!r} is not supported); to send "
            "another wire format give the topic value_serializer= (a codec name or object)"
        )
    if include_metadata:
        raise ConfigurationError(
            f"{name}: include_metadata=True is not supported: rxstreams writes no '__faust' "
            "metadata, the topic's value_type says what to decode; remove it"
        )
    if isodates is False:
        raise ConfigurationError(
            f"{name}: isodates=False is not supported: datetimes are always ISO 8601 strings "
            "in JSON; remove it"
        )
    for option in others:
        hint = {
            "namespace": "it names Faust's '__faust' metadata, which rxstreams does not "
            "write; remove it (the topic's value_type says what to decode)",
            "polymorphic_fields": "a field decodes to its annotated type; remove it",
            "coerce": "decoding always converts JSON to the annotated types; remove it",
            "decimals": "Decimal fields are always strings in JSON; remove it",
            "date_parser": "datetimes are parsed as ISO 8601; use a str field and parse it",
            "abstract": "declare the shared fields in a Record subclass instead",
            "allow_blessed_key": "no '__faust' metadata is read or written; remove it",
            "coercions": "decoding converts JSON to the annotated types; use a field type "
            "from the supported list, or a str field and convert it yourself",
            "lazy_creation": "nested records are built when decoded; remove it",
        }.get(option, "not a Record option (Faust's or rxstreams')")
        raise ConfigurationError(
            f"{name}: class option {option}= is refused: {hint}. " + _OPTIONS_HELP
        )


def _check_field_types(cls: type[Record]) -> None:
    """Refuse unsupported field types when the class is defined.

    Annotations naming a class defined later (forward references) cannot be resolved yet:
    those are checked when the record is first used (a topic declared with it, or a
    decode), and the error is an :class:`ArgumentTypeError`, never a decode error.
    """
    try:
        hints = typing.get_type_hints(cls)
    except NameError:
        return
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        try:
            _field_for(hints[f.name], True, {})
        except ArgumentTypeError as exc:
            raise ArgumentTypeError(f"{cls.__name__}.{f.name}: {exc}") from None


class FieldDescriptor:
    """A Record field on the class (``Word.word``): a getter of that field.

    ``Word.word(w)`` returns ``w.word``, so it can be a ``group_by`` key or a ``filter`` /
    ``map`` function. Equality and hashing are those of any object (identity).
    """

    __slots__ = ("default", "name", "owner", "type")

    def __init__(self, owner: type[Record], f: dataclasses.Field[Any]) -> None:
        self.owner = owner
        self.name = f.name
        self.type = f.type
        self.default = f.default

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        # reached only when the instance has no value of its own (built without __init__):
        # the default, as a dataclass' class attribute gave, else None
        return None if self.default is dataclasses.MISSING else self.default

    def __call__(self, record: Any) -> Any:
        return getattr(record, self.name)

    def __repr__(self) -> str:
        return f"<field {self.owner.__name__}.{self.name}>"


# -- instance validation (construction and send) ----------------------------------------------


class _Wrong(Exception):
    def __init__(self, path: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message
        #: every (path, message) found (a nested record may have several)
        self.items = more if more is not None else [(path, message)]

    def under(self, prefix: str) -> _Wrong:
        items = [(f"{prefix}.{p}" if p else prefix, m) for p, m in self.items]
        return _Wrong(items[0][0], items[0][1], items)


def _instance_validator(cls: type[Record]) -> Callable[[Any], None]:
    hints = typing.get_type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        validate = f.metadata.get("validate")
        if validate is not None and not isinstance(validate, list | tuple):
            validate = (validate,)
        plan.append((f.name, _instance_check(hints[f.name]), validate))
    name = cls.__name__

    def problems(obj: Any) -> list[tuple[str, str]]:
        values = obj.__dict__
        found: list[tuple[str, str]] = []
        for attr, ok, validate in plan:
            value = values.get(attr)
            try:
                ok(value)
                if validate is not None and value is not None:
                    for v in validate:
                        v(value)
            except _Wrong as exc:
                found.extend(exc.under(attr).items)
            except marshmallow.ValidationError as exc:
                found.append((attr, " ".join(map(str, exc.messages))))
        return found

    def check(obj: Any) -> None:
        values = obj.__dict__
        try:  # the common case: every check passes, one try for all
            for attr, ok, validate in plan:
                value = values.get(attr)
                ok(value)
                if validate is not None and value is not None:
                    for v in validate:
                        v(value)
            return
        except (_Wrong, marshmallow.ValidationError):
            pass
        found = problems(obj)
        raise RecordError(f"{name}: " + "; ".join(f"field {p!r}: {m}" for p, m in found))

    check.problems = problems  # type: ignore[attr-defined]
    return check


def _instance_check(tp: Any) -> Callable[[Any], None]:
    optional, inner_tp = _unwrap_optional(tp)
    inner = _instance_inner(inner_tp)
    if optional or inner_tp is Any:

        def maybe(value: Any) -> None:
            if value is not None:
                inner(value)

        return maybe

    def required(value: Any) -> None:
        if value is None:
            raise _Wrong("", "may not be None")
        inner(value)

    return required


def _kind(kinds: Any, label: str) -> Callable[[Any], None]:
    exact = kinds if isinstance(kinds, tuple) else (kinds,)
    no_bool = bool not in exact and any(k is int or k is float for k in exact)

    def check(value: Any) -> None:
        if type(value) in exact:  # the common case: one set lookup
            return
        if not isinstance(value, kinds) or (no_bool and type(value) is bool):
            raise _Wrong("", f"expected {label}, got {type(value).__name__} {value!r:.40}")

    return check


def _date_only(value: Any) -> None:
    if type(value) is dt.date:
        return
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise _Wrong("", f"expected date, got {type(value).__name__} {value!r:.40}")


def _finite_float(value: Any) -> None:
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # false for nan and the infinities
            return
    elif kind is int:
        return
    elif kind is bool or not isinstance(value, float | int):
        raise _Wrong("", f"expected float, got {kind.__name__} {value!r:.40}")
    elif math.isfinite(value):
        return
    raise _Wrong("", f"expected a finite float: JSON has no {value!r}")


def _finite_decimal(value: Any) -> None:
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():
            return
    elif kind is int:
        return
    elif kind is bool or not isinstance(value, Decimal | int):
        raise _Wrong("", f"expected Decimal, got {kind.__name__} {value!r:.40}")
    elif not isinstance(value, Decimal) or value.is_finite():
        return
    raise _Wrong("", f"expected a finite Decimal, got {value!r}")


def _instance_inner(tp: Any) -> Callable[[Any], None]:
    tp = _bare(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return lambda value: None
    if isinstance(tp, type) and issubclass(tp, Record):

        def nested(value: Any) -> None:
            if not isinstance(value, tp):
                raise _Wrong("", f"expected {tp.__name__}, got {type(value).__name__}")
            found = tp._validator().problems(value)  # type: ignore[attr-defined]
            if found:
                raise _Wrong(found[0][0], found[0][1], found)

        return nested
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _kind(tp, tp.__name__)
    simple: dict[Any, tuple[Any, str]] = {
        int: (int, "int"),
        bool: (bool, "bool"),
        str: (str, "str"),
        bytes: (bytes, "bytes"),
        dt.datetime: (dt.datetime, "datetime"),
        dt.time: (dt.time, "time"),
        uuid.UUID: (uuid.UUID, "UUID"),
    }
    if tp in simple:
        return _kind(*simple[tp])
    if tp is dt.date:  # a datetime is a date, but would be written without its time
        return _date_only
    if tp is float:  # sent as JSON numbers: nan and the infinities would not come back
        return _finite_float
    if tp is Decimal:
        return _finite_decimal
    if origin in (list, tuple, typing.Sequence) or origin is typing.List:  # noqa: UP006
        item = _instance_check(args[0]) if args else (lambda value: None)

        def each(value: Any) -> None:
            if not isinstance(value, list | tuple):
                raise _Wrong("", f"expected a list, got {type(value).__name__}")
            for i, v in enumerate(value):
                try:
                    item(v)
                except _Wrong as exc:
                    raise exc.under(str(i)) from None

        return each
    if origin in (dict, Mapping) or origin is typing.Dict:  # noqa: UP006
        key = _instance_inner(args[0]) if len(args) == 2 else (lambda value: None)
        val = _instance_check(args[1]) if len(args) == 2 else (lambda value: None)

        def each_item(value: Any) -> None:
            if not isinstance(value, Mapping):
                raise _Wrong("", f"expected a dict, got {type(value).__name__}")
            for k, v in value.items():
                try:
                    key(k)
                    val(v)
                except _Wrong as exc:
                    raise exc.under(str(k)) from None

        return each_item
    if origin in (typing.Union, types.UnionType):
        members = [_instance_check(a) for a in args]

        def any_of(value: Any) -> None:
            for m in members:
                try:
                    m(value)
                    return
                except _Wrong:
                    continue
            raise _Wrong("", f"expected {_type_name(tp)}, got {type(value).__name__}")

        return any_of
    raise ArgumentTypeError(_unsupported(tp))


def _type_name(tp: Any) -> str:
    return " | ".join(getattr(a, "__name__", repr(a)) for a in typing.get_args(tp))


def _unsupported(tp: Any) -> str:
    return f"Record fields of type {tp!r} are not supported; supported: {SUPPORTED_TYPES}"


class _Union(mf.Field[Any]):
    """A value that one of the members accepts (tried in order)."""

    def __init__(self, members: list[tuple[Any, mf.Field[Any]]], label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = members
        self.label = label

    def _in_order(self, value: Any) -> list[mf.Field[Any]]:
        """The members to try: first the one of the value's own type (a str stays a str in
        ``float | str``, though a float field would take "1.5"), then the others in order."""
        kind = type(value)
        exact = [m for tp, m in self.members if tp is kind]
        return exact + [m for tp, m in self.members if tp is not kind]

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        for m in self._in_order(value):
            try:
                m.deserialize(m._serialize(value, attr, obj))
            except (marshmallow.ValidationError, TypeError, ValueError, AttributeError):
                continue
            return m._serialize(value, attr, obj)
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        for m in self._in_order(value):
            try:
                return m.deserialize(value)
            except marshmallow.ValidationError:
                continue
        raise marshmallow.ValidationError(f"Not a valid {self.label}.")
