"""Settings: validated once, unknown names refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rxstreams import App, ConfigurationError
from rxstreams.settings import Settings
from rxstreams.types import ProducerConfig


def test_unknown_setting_is_refused_with_the_known_names() -> None:
    """A misspelt setting fails at once and lists what exists."""
    with pytest.raises(ConfigurationError, match=r"unknown setting.*commit_intervall.*known:"):
        App("a", commit_intervall=1.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("commit_interval", 0),
        ("stream_buffer_maxsize", 0),
        ("max_poll_records", -1),
        ("commit_every", 0),
        ("auto_offset_reset", "middle"),
        ("redelivery_limit", -1),
    ],
)
def test_invalid_values_are_refused(name: str, value: object) -> None:
    """Out-of-range values fail with the setting's name."""
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_kwargs("a", **{name: value})


def test_bad_app_id_is_refused() -> None:
    """The app id names the consumer group: it must be a plain identifier."""
    with pytest.raises(ConfigurationError, match="app id"):
        App("has spaces")


def test_broker_must_be_a_url() -> None:
    """A broker given without a scheme is a configuration error, not a late failure."""
    with pytest.raises(ConfigurationError, match="not a URL"):
        App("a", broker="localhost:9092")


def test_settings_are_frozen() -> None:
    """Settings cannot change after the app is built."""
    conf = Settings.from_kwargs("a")
    with pytest.raises(AttributeError):
        conf.commit_interval = 5  # type: ignore[misc]


def test_consumer_config_follows_the_settings() -> None:
    """The group id is the app id; fetch options come from the settings."""
    conf = Settings.from_kwargs("grp", max_poll_records=7, auto_offset_reset="latest")
    cc = conf.consumer_config()
    assert (cc.group_id, cc.max_poll_records, cc.auto_offset_reset) == ("grp", 7, "latest")


def test_producer_defaults_are_durable() -> None:
    """By default every in-sync replica must have a record, and idempotence is asked for."""
    pc = Settings.from_kwargs("app").producer_config()
    assert pc == ProducerConfig(
        client_id="app",
        linger=0.0,
        max_batch_size=16384,
        acks="all",
        idempotence=None,
        compression=None,
        request_timeout=40.0,
        max_request_size=1_048_576,
        transaction_timeout=10.0,
    )


def test_exactly_once_reads_committed_and_gets_a_transactional_producer() -> None:
    """processing_guarantee='exactly_once' (Faust's name) makes the app read committed
    records only; a worker asks for a transactional producer with its own id."""
    conf = Settings.from_kwargs("app", processing_guarantee="exactly_once", transaction_timeout=5)
    assert conf.exactly_once
    assert conf.consumer_config().isolation_level == "read_committed"
    pc = conf.producer_config(transactional_id="app-1")
    assert (pc.transactional_id, pc.transaction_timeout) == ("app-1", 5)
    assert Settings.from_kwargs("app").consumer_config().isolation_level == "read_uncommitted"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"processing_guarantee": "exactly-once"}, "processing_guarantee must be"),
        ({"processing_guarantee": "exactly_once", "producer_acks": 1}, "transactional producer"),
        (
            {"processing_guarantee": "exactly_once", "producer_idempotence": False},
            "transactional producer",
        ),
        ({"transaction_timeout": 0}, "setting transaction_timeout must be > 0"),
        (
            {"processing_guarantee": "exactly_once", "commit_interval": 10},
            r"commit_interval \(10s\) must be shorter than transaction_timeout \(10.0s\)",
        ),
    ],
)
def test_exactly_once_settings_are_checked(settings: dict[str, Any], message: str) -> None:
    """A misspelt guarantee, or a producer that cannot be transactional, is refused."""
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_kwargs("app", **settings)


def test_every_producer_setting_reaches_the_producer_config() -> None:
    """The producer_* settings become the producer's config, field for field."""
    conf = Settings.from_kwargs(
        "app",
        producer_acks=1,
        producer_idempotence=False,
        producer_linger=0.01,
        producer_max_batch_size=65536,
        producer_compression="gzip",
        producer_request_timeout=5,
        producer_max_request_size=2048,
    )
    assert conf.producer_config() == ProducerConfig(
        client_id="app",
        linger=0.01,
        max_batch_size=65536,
        acks=1,
        idempotence=False,
        compression="gzip",
        request_timeout=5,
        max_request_size=2048,
        transaction_timeout=10.0,
    )


def test_acks_minus_one_is_taken_as_all() -> None:
    """producer_acks=-1 (Kafka's number for all) reads back as 'all', in the settings too."""
    conf = Settings.from_kwargs("app", producer_acks=-1)
    assert conf.producer_acks == "all"
    assert conf.producer_config().acks == "all"
    assert ProducerConfig("p", acks=-1).acks == "all"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("producer_acks", 2, "0, 1 or 'all'"),
        ("producer_acks", "ALL", "0, 1 or 'all'"),
        ("producer_acks", True, "0, 1 or 'all'"),
        ("producer_acks", 1.0, "0, 1 or 'all'"),
        ("producer_idempotence", "yes", "None .*, True .* or False"),
        ("producer_idempotence", 1, "None .*, True .* or False"),
        ("producer_linger", -0.1, ">= 0 seconds"),
        ("producer_linger", "5", ">= 0 seconds"),
        ("producer_linger", float("inf"), ">= 0 seconds"),
        ("producer_max_batch_size", 0, "> 0 bytes"),
        ("producer_max_batch_size", 1.5, "> 0 bytes"),
        ("producer_compression", "brotli", "None, 'gzip', 'snappy', 'lz4' or 'zstd'"),
        ("producer_compression", "none", "None, 'gzip', 'snappy', 'lz4' or 'zstd'"),
        ("producer_request_timeout", 0, "> 0 seconds"),
        ("producer_max_request_size", -1, "> 0 bytes"),
    ],
)
def test_bad_producer_settings_are_refused_at_app_creation(
    name: str, value: object, allowed: str
) -> None:
    """A bad producer setting fails when the app is created, naming it and what it allows."""
    message = rf"setting {name} must be {allowed}.*, got {re.escape(repr(value))}$"
    with pytest.raises(ConfigurationError, match=message):
        App("a", **{name: value})


def test_required_idempotence_needs_acks_all() -> None:
    """producer_idempotence=True with acks 0 or 1 is refused, saying how to fix it."""
    for acks in (0, 1):
        with pytest.raises(
            ConfigurationError, match=r"producer_idempotence=True needs producer_acks='all'"
        ):
            App("a", producer_acks=acks, producer_idempotence=True)


def test_default_idempotence_accepts_any_acks() -> None:
    """Without producer_idempotence, acks 0 or 1 are accepted (idempotence is then off)."""
    for acks in (0, 1):
        assert App("a", producer_acks=acks).conf.producer_config().acks == acks


def test_a_producer_config_is_validated_when_built_directly() -> None:
    """A transport never receives an invalid producer config, whoever built it."""
    with pytest.raises(ConfigurationError, match="setting producer_max_batch_size"):
        ProducerConfig("p", max_batch_size=0)
