"""Fixtures shared by the tests: a fresh embedded broker per test, and apps on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog

from rxstreams import App
from rxstreams_memory import MemoryBroker, MemoryTransport
from tests.helpers import AppFactory
from tests.kafka_broker import (  # noqa: F401  (the test brokers: Apache Kafka, and Tansu)
    kafka_broker,
    kafka_url,
    pytest_collection_finish,
    secured_kafka,
    tansu_url,
)


@pytest.fixture(scope="session", autouse=True)
def _no_implicit_event_loop() -> None:
    """Keep looptime from leaking an event loop when a sync test runs before any async one.

    looptime asks the policy for the current loop even in sync tests; on Python 3.11 that
    creates a loop nobody closes, whose ResourceWarning later fails an unrelated test.
    Marking the loop as explicitly unset (what every finished async test does) prevents it.
    """
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Tests that configure logging (the CLI's) leave the defaults to the next test:
    structlog's, and the aiokafka logger that ``configure()`` routes."""
    aiokafka = logging.getLogger("aiokafka")
    handlers, level, propagate = aiokafka.handlers[:], aiokafka.level, aiokafka.propagate
    yield
    structlog.reset_defaults()
    aiokafka.handlers[:] = handlers
    aiokafka.setLevel(level)  # setLevel, not .level: it clears the children's level caches
    aiokafka.propagate = propagate


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
