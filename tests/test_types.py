"""The transport configs of ``rxstreams.types``: what a ReaderConfig accepts."""

from __future__ import annotations

from typing import Any

import pytest

from rxstreams.errors import ConfigurationError
from rxstreams.types import ConsumerConfig, ReaderConfig


def test_reader_config_defaults() -> None:
    """A ReaderConfig needs only a client id; fetch waits, batch size and request timeout
    have defaults."""
    config = ReaderConfig(client_id="app-replies")
    assert (config.fetch_max_wait, config.max_poll_records, config.request_timeout) == (
        0.5,
        1000,
        30.0,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"client_id": ""}, "client_id must be a non-empty string"),
        ({"fetch_max_wait": -0.1}, "fetch_max_wait must be a finite number of seconds >= 0"),
        ({"fetch_max_wait": float("nan")}, "fetch_max_wait"),
        ({"request_timeout": 0}, "request_timeout must be a finite number of seconds > 0"),
        ({"max_poll_records": 0}, "max_poll_records must be an integer >= 1"),
        ({"max_poll_records": True}, "max_poll_records"),
        ({"fetch_max_wait": 5.0, "request_timeout": 5.0}, "must be shorter than request_timeout"),
    ],
)
def test_reader_config_rejects_bad_values(settings: dict[str, Any], message: str) -> None:
    """Bad values raise ConfigurationError when the config is made, naming the setting."""
    with pytest.raises(ConfigurationError, match=message):
        ReaderConfig(**{"client_id": "r", **settings})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"group_id": ""}, "group_id must be a non-empty string"),
        ({"auto_offset_reset": "middle"}, "auto_offset_reset must be 'earliest' or 'latest'"),
        ({"session_timeout": 0}, "session_timeout"),
        ({"rebalance_timeout": -1}, "rebalance_timeout"),
        ({"fetch_max_wait": -0.1}, "fetch_max_wait"),
        ({"max_poll_records": 0}, "max_poll_records must be an integer >= 1"),
    ],
)
def test_consumer_config_is_validated_where_it_is_made(
    kwargs: dict[str, Any], message: str
) -> None:
    """A bad consumer setting is refused by ConsumerConfig itself, whoever builds it."""
    base: dict[str, Any] = {"group_id": "g", "client_id": "c"}
    with pytest.raises(ConfigurationError, match=message):
        ConsumerConfig(**{**base, **kwargs})
