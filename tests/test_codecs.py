"""Codecs: json, raw, str, and the registry."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams import CodecError, ConfigurationError, Record, RecordError, get_codec, register_codec
from rxstreams.codecs import codec_for


def test_json_round_trip() -> None:
    """JSON values come back equal."""
    codec = get_codec("json")
    value = {"a": [1, 2.5, "x", None, True]}
    assert codec.loads(codec.dumps(value)) == value


def test_json_decode_error_is_a_codec_error() -> None:
    """Bytes that are not JSON raise CodecError, not orjson's own error."""
    with pytest.raises(CodecError, match="not valid JSON"):
        get_codec("json").loads(b"{nope")


def test_raw_and_str() -> None:
    """raw passes bytes through; str is UTF-8 text."""
    assert get_codec("raw").loads(get_codec("raw").dumps("hé")) == "hé".encode()
    assert get_codec("str").loads(get_codec("str").dumps("hé")) == "hé"
    with pytest.raises(CodecError):
        get_codec("str").loads(b"\xff")


def test_unknown_codec_lists_the_known_ones() -> None:
    """Asking for a codec that does not exist names the ones that do."""
    with pytest.raises(ConfigurationError, match=r"known: .*json"):
        get_codec("pickle")


def test_registered_codec_is_found_by_name() -> None:
    """register_codec() makes a codec usable by name."""

    class Upper:
        def dumps(self, obj: Any) -> bytes:
            return str(obj).upper().encode()

        def loads(self, data: bytes) -> Any:
            return data.decode()

    register_codec("upper-test", Upper())
    assert get_codec("upper-test").dumps("ab") == b"AB"


@pytest.mark.parametrize(
    ("kind", "good", "wire", "bad"),
    [
        (int, 42, b"42", [True, 1.5, "42", None]),
        (float, 1.5, b"1.5", [False, "1.5", float("nan")]),
    ],
)
def test_number_codecs_round_trip_and_validate(
    kind: type, good: Any, wire: bytes, bad: list[Any]
) -> None:
    """value_type=int/float: the number as JSON text, checked on the way out and in."""
    codec = codec_for(kind, "json")
    assert codec.dumps(good) == wire
    assert codec.loads(wire) == good
    assert type(codec.loads(wire)) is kind
    for value in bad:
        with pytest.raises(CodecError, match=r"expected|finite"):
            codec.dumps(value)
    with pytest.raises(CodecError):
        codec.loads(b'"42"')
    with pytest.raises(CodecError):
        codec.loads(b"not json")


def test_float_codec_takes_ints_and_str_bytes_codecs_stay() -> None:
    """float accepts an int (sent as a float); str and bytes keep the str and raw codecs."""
    assert codec_for(float, "json").dumps(2) == b"2.0"
    assert codec_for(float, "json").loads(b"2") == 2.0
    assert codec_for(str, "json").loads(codec_for(str, "json").dumps("é")) == "é"
    assert codec_for(bytes, "json").dumps(b"\x00") == b"\x00"


def test_json_codec_validates_records_inside_values() -> None:
    """A Record inside a JSON value is validated and written as its to_dict()."""

    class Point(Record):
        x: int

    p = Point(1)
    assert get_codec("json").dumps({"p": p}) == b'{"p":{"x":1}}'
    p.x = "one"  # type: ignore[assignment]
    with pytest.raises(RecordError, match="field 'x'"):
        get_codec("json").dumps([p])


def test_bytes_topic_type_refuses_str() -> None:
    """value_type=bytes sends bytes only: a str would come back as bytes (before, the raw
    codec encoded it silently); the "raw" serializer still takes str."""
    codec = codec_for(bytes, "json")
    assert codec.loads(codec.dumps(bytearray(b"\x01"))) == b"\x01"
    with pytest.raises(CodecError, match="expected bytes, not str"):
        codec.dumps("text")
    assert get_codec("raw").dumps("text") == b"text"
