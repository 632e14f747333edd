"""Codecs: json, raw, str, and the registry."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams import CodecError, ConfigurationError, get_codec, register_codec


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
