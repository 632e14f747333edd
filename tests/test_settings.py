"""Settings: validated once, unknown names refused."""

from __future__ import annotations

import pytest

from rxstreams import App, ConfigurationError
from rxstreams.settings import Settings


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
