"""Fixtures shared by the tests: a fresh embedded broker per test, and apps on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from rxstreams import App
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory


@pytest.fixture
def broker() -> MemoryBroker:
    """A fresh embedded broker, private to the test."""
    return MemoryBroker()


@pytest.fixture
async def make_app(broker: MemoryBroker) -> AsyncIterator[AppFactory]:
    """Build apps on the test's broker; any still running are stopped at the end."""
    apps: list[App] = []

    def make(id: str = "app", **settings: Any) -> App:
        settings.setdefault("topic_partitions", 1)
        app = App(id, transport=MemoryTransport(broker=broker), **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        if app.state not in ("init", "stopped"):
            await app.stop()
