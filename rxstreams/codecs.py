"""Serializers for keys and values, found by name in a small registry.

Built in: ``json`` (orjson), ``raw`` (bytes as they are), ``str`` (UTF-8 text). There is no
pickle codec: unpickling bytes that anyone could have produced runs their code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .errors import CodecError, ConfigurationError, RxStreamsError
from .types import CodecT

__all__ = (
    "BytesCodec",
    "DerivedCodec",
    "JSONCodec",
    "NumberCodec",
    "RawCodec",
    "StrCodec",
    "codec_for",
    "compact",
    "get_codec",
    "register_codec",
)


def compact(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size.

    orjson (3.13) returns bytes that keep the 4 KB buffer they were written into
    (tracemalloc: 4,089 bytes held by the result of ``orjson.dumps("abc")``): a record
    kept by the embedded broker, a table's changelog or a producer's buffer would cost
    4 KB. Copying costs about 0.1 µs and keeps a small record small.
    """
    return bytes(memoryview(data))


class JSONCodec:
    """JSON through orjson: dicts, lists, numbers, strings, datetimes, dataclasses."""

    __slots__ = ()

    def dumps(self, obj: Any) -> bytes:
        try:
            return compact(orjson.dumps(obj, default=_json_default, option=_JSON_OPTIONS))
        except RxStreamsError:
            raise
        except TypeError as exc:
            cause = exc.__cause__
            if isinstance(cause, RxStreamsError):  # a Record in obj did not validate
                raise cause from None
            raise CodecError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"not valid JSON: {exc}") from exc


_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS


def _json_default(obj: Any) -> Any:
    """Records (validated) and other dataclasses inside a JSON value."""
    from .records import Record

    if isinstance(obj, Record):
        obj.validate_or_raise()
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    raise CodecError(f"cannot encode {type(obj).__name__} as JSON")


class NumberCodec:
    """``value_type=int`` or ``float``: the number as JSON text (``b"42"``), checked both ways."""

    __slots__ = ("kind",)

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind

    def _check(self, obj: Any) -> int | float:
        if isinstance(obj, bool) or not isinstance(obj, int if self.kind is int else int | float):
            raise CodecError(f"expected {self.kind.__name__}, not {type(obj).__name__} {obj!r:.40}")
        if self.kind is float:
            value = float(obj)
            if not math.isfinite(value):
                raise CodecError(f"JSON has no {value!r}: send a finite float")
            return value
        return int(obj)

    def dumps(self, obj: Any) -> bytes:
        return compact(orjson.dumps(self._check(obj)))

    def loads(self, data: bytes) -> Any:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"not a {self.kind.__name__}: {exc}") from exc
        return self._check(value)

    def __repr__(self) -> str:
        return f"<NumberCodec {self.kind.__name__}>"


class RawCodec:
    """Bytes in, bytes out; ``str`` is encoded as UTF-8 on the way in."""

    __slots__ = ()

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        if isinstance(obj, str):
            return obj.encode()
        if isinstance(obj, bytearray | memoryview):
            return bytes(obj)
        raise CodecError(f"the raw codec sends bytes or str, not {type(obj).__name__}")

    def loads(self, data: bytes) -> Any:
        return data


class BytesCodec(RawCodec):
    """``value_type=bytes``: bytes as they are, and only bytes (a str is refused, as it
    would come back as bytes)."""

    __slots__ = ()

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes | bytearray | memoryview):
            return bytes(obj)
        raise CodecError(
            f"expected bytes, not {type(obj).__name__} {obj!r:.40} (the topic's type is bytes; "
            "encode a str first, or declare the topic with value_type=str)"
        )

    def __repr__(self) -> str:
        return "<BytesCodec>"


class StrCodec:
    """UTF-8 text."""

    __slots__ = ()

    def dumps(self, obj: Any) -> bytes:
        if isinstance(obj, str):
            return obj.encode()
        raise CodecError(f"the str codec sends str, not {type(obj).__name__}")

    def loads(self, data: bytes) -> Any:
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise CodecError(f"not valid UTF-8: {exc}") from exc


class DerivedCodec:
    """The values of an internal topic fed by a stream of ``origin`` (a repartition topic).

    A value of the origin topic's type is written with its codec, so it comes back as that
    type (a Record as a Record), and the topic reads like its origin. A value that a
    ``map()`` made into something else is written marked (a leading NUL byte, which JSON
    text never starts with): a Record of another class with its class's name, so it comes
    back as that class, anything else as JSON. An origin value whose bytes start with a
    NUL (raw or str codecs) gets a second one.
    """

    __slots__ = ("_is_origin", "origin")

    def __init__(self, origin: CodecT, value_type: Any) -> None:
        self.origin = origin
        self._is_origin = _origin_check(origin, value_type)

    def dumps(self, obj: Any) -> bytes:
        from .records import Record, record_name

        is_origin = self._is_origin
        if is_origin is None:  # a codec of its own, no type: what it encodes is its own
            try:
                return _escaped(self.origin.dumps(obj))
            except CodecError:
                pass
        elif is_origin(obj):
            return _escaped(self.origin.dumps(obj))
        if isinstance(obj, Record):
            return b"\x00R" + record_name(type(obj)).encode() + b"\n" + obj.dumps()
        return b"\x00J" + _JSON.dumps(obj)

    def loads(self, data: bytes) -> Any:
        if data[:1] != b"\x00":
            return self.origin.loads(data)
        mark = data[1:2]
        if mark == b"\x00":
            return self.origin.loads(data[1:])
        if mark == b"J":
            return _JSON.loads(data[2:])
        if mark == b"R":
            from .records import record_class

            name, _, body = data[2:].partition(b"\n")
            return record_class(name.decode()).loads(body)
        raise CodecError(f"not a value of an internal topic: {data[:20]!r}")

    def __repr__(self) -> str:
        return f"<DerivedCodec of {self.origin!r}>"


def _escaped(data: bytes) -> bytes:
    return b"\x00" + data if data[:1] == b"\x00" else data


def _origin_check(origin: CodecT, value_type: Any) -> Callable[[Any], bool] | None:
    """Whether a value is of the origin topic's type (None: ask the origin codec)."""
    from marshmallow import Schema

    from .records import Record

    if isinstance(value_type, type) and issubclass(value_type, Record):
        return lambda obj: isinstance(obj, value_type)
    if isinstance(value_type, Schema) or (
        isinstance(value_type, type) and issubclass(value_type, Schema)
    ):
        return lambda obj: isinstance(obj, Mapping)
    if value_type is int:
        return lambda obj: type(obj) is int
    if value_type is float:
        return lambda obj: type(obj) is float or type(obj) is int
    if value_type is str:
        return lambda obj: isinstance(obj, str)
    if value_type is bytes:
        return lambda obj: isinstance(obj, bytes | bytearray | memoryview)
    if type(origin) is JSONCodec:  # Records in it would come back as dicts: mark them
        return lambda obj: not isinstance(obj, Record)
    return None


_JSON = JSONCodec()

_REGISTRY: dict[str, CodecT] = {"json": JSONCodec(), "raw": RawCodec(), "str": StrCodec()}


def register_codec(name: str, codec: CodecT) -> None:
    """Make ``codec`` available as ``key_serializer=name`` / ``value_serializer=name``."""
    if not isinstance(codec, CodecT):
        raise ConfigurationError(f"codec {name!r} must have dumps(obj) and loads(bytes)")
    _REGISTRY[name] = codec


def get_codec(codec: str | CodecT) -> CodecT:
    """The codec registered under ``codec``, or ``codec`` itself when it is a codec object."""
    if isinstance(codec, str):
        try:
            return _REGISTRY[codec]
        except KeyError:
            known = ", ".join(sorted(_REGISTRY))
            raise ConfigurationError(
                f"unknown serializer {codec!r}; known: {known} (or register_codec())"
            ) from None
    if isinstance(codec, CodecT):
        return codec
    raise ConfigurationError(f"a serializer is a name or a codec object, not {codec!r}")


def codec_for(type_: Any, serializer: str | CodecT) -> CodecT:
    """The codec of a topic's keys or values: from ``key_type``/``value_type`` (a Record
    class or a marshmallow Schema) when given, else from the serializer name or object."""
    if type_ is None:
        return get_codec(serializer)
    from marshmallow import Schema

    from .records import Record, SchemaCodec

    if isinstance(type_, type) and issubclass(type_, Record):
        return type_.codec()
    if isinstance(type_, Schema) or (isinstance(type_, type) and issubclass(type_, Schema)):
        return SchemaCodec(type_)
    if type_ is str:
        return get_codec("str")
    if type_ is bytes:
        return BytesCodec()
    if type_ is int or type_ is float:
        return NumberCodec(type_)
    raise ConfigurationError(
        "key_type/value_type must be a Record class, a marshmallow Schema, int, float, str "
        f"or bytes, not {type_!r}"
    )
