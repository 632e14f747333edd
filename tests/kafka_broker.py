"""The Kafka brokers of the tests, as fixtures: Apache Kafka itself, and Tansu for one case.

- :func:`kafka_url` (session): ``kafka://127.0.0.1:PORT`` of one Apache Kafka broker
  (KRaft, one node, a fresh log directory under the session's tmp directory) started for the
  whole session by :class:`tests.brokers.kafka.KafkaBroker`, the code behind
  ``bash scripts/kafka start``. Tests that use it are marked ``@pytest.mark.kafka``.
- :func:`kafka_broker` (per test): makes brokers of the test's own, not started, stopped at
  the end: with more listeners or other settings (a SASL_SSL listener, say), behind a proxy
  (``advertised_port``), or to kill with SIGKILL and start again on the same log directory.
- :func:`secured_kafka` (session, started on first use): an Apache Kafka broker with SASL_SSL,
  SASL_PLAINTEXT, SSL and mutual-TLS listeners, a throwaway CA and users of each SASL
  mechanism (:mod:`tests.brokers.secured`), for the TLS and SASL tests.
- :func:`tansu_url` (session, started on first use): a Tansu broker, the example of a
  Kafka-protocol broker that refuses idempotent producers.

Apache Kafka is fetched with ``mvn`` into ``~/.cache/rxstreams`` the first time:
:func:`pytest_collection_finish` does that before the first test when any selected test
needs a Kafka broker, outside the per-test timeout, and says so on the terminal. Nothing is
skipped: a machine without Java or Maven fails these tests saying what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.brokers import kafka, secured, tansu
from tests.brokers._process import stop

__all__ = ("kafka_broker", "kafka_url", "pytest_collection_finish", "secured_kafka", "tansu_url")

#: the fixtures that need Apache Kafka on this machine
KAFKA_FIXTURES = frozenset({"kafka_url", "kafka_broker", "secured_kafka"})

log = logging.getLogger(__name__)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fetch Apache Kafka before the tests run if a selected test needs it and it is not
    in the cache yet (only on a new machine: it takes a while, so say so)."""
    if not any(KAFKA_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"rxstreams tests: {message}")

    try:
        kafka.fetch(say)
    except kafka.KafkaBrokerError as exc:
        say(f"could not fetch Apache Kafka; the Kafka tests will fail: {exc}")


def _fail(exc: Exception) -> NoReturn:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kafka://127.0.0.1:PORT`` of an Apache Kafka broker running for the whole session."""
    broker = kafka.KafkaBroker(tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except kafka.KafkaBrokerError as exc:
        _fail(exc)
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[Callable[..., kafka.KafkaBroker]]:
    """Make Apache Kafka brokers of the test's own (``KafkaBroker`` keyword arguments); the
    test starts them (``await broker.start_async()``); they are stopped at its end."""
    brokers: list[kafka.KafkaBroker] = []

    def make(**options: Any) -> kafka.KafkaBroker:
        broker = kafka.KafkaBroker(tmp_path / f"kafka-{len(brokers)}", **options)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[secured.SecuredKafka]:
    """An Apache Kafka broker with TLS and SASL listeners, running for the rest of the
    session once a test asks for it (one broker for every security test: a start costs
    seconds)."""
    found = secured.secured_broker(tmp_path_factory.mktemp("secured-kafka"))
    try:
        found.broker.start()
    except kafka.KafkaBrokerError as exc:
        _fail(exc)
    try:
        yield found
    finally:
        found.broker.stop()


@pytest.fixture(scope="session")
def tansu_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kafka://127.0.0.1:PORT`` of a Tansu broker (in-memory storage) for the session."""
    try:
        process, port = tansu.start(tmp_path_factory.mktemp("tansu") / "tansu.log")
    except tansu.TansuError as exc:
        _fail(exc)
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        stop(process)
