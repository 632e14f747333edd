"""Serializers for keys and values, found by name in a small registry.

Built in: ``json`` (orjson), ``raw`` (bytes as they are), ``str`` (UTF-8 text). There is no
pickle codec: unpickling bytes that anyone could have produced runs their code.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import CodecError, ConfigurationError
from .types import CodecT

__all__ = ("JSONCodec", "RawCodec", "StrCodec", "codec_for", "get_codec", "register_codec")


class JSONCodec:
    """JSON through orjson: dicts, lists, numbers, strings, datetimes, dataclasses."""

    __slots__ = ()

    def dumps(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj)
        except TypeError as exc:
            raise CodecError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"not valid JSON: {exc}") from exc


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
    if isinstance(type_, type) and type_ in (str, bytes):
        return get_codec("str" if type_ is str else "raw")
    raise ConfigurationError(
        f"key_type/value_type must be a Record class or a marshmallow Schema, not {type_!r}"
    )
