"""URLs and the mapping of rxstreams' configs to aiokafka's arguments (no broker needed)."""

from __future__ import annotations

import ssl
from typing import Literal

import pytest
from aiokafka import codec

import rxstreams_kafka
from rxstreams import App, SASLCredentials, SSLCredentials
from rxstreams.errors import ConfigurationError
from rxstreams.transports import transport_from_url
from rxstreams.types import ConsumerConfig, ProducerConfig, ReaderConfig
from rxstreams_kafka import KafkaTransport, bootstrap_servers
from rxstreams_kafka._config import (
    consumer_kwargs,
    producer_kwargs,
    reader_kwargs,
    security_kwargs,
)


@pytest.mark.parametrize(
    ("url", "servers"),
    [
        ("kafka://localhost:9092", ["localhost:9092"]),
        ("kafka://h1:9092,h2:9093", ["h1:9092", "h2:9093"]),
        ("kafka://broker", ["broker:9092"]),
        ("kafka://10.0.0.1:19092/", ["10.0.0.1:19092"]),
        ("kafka://[::1]:9092,[fe80::1]", ["[::1]:9092", "[fe80::1]:9092"]),
    ],
)
def test_urls_list_the_bootstrap_servers(url: str, servers: list[str]) -> None:
    """kafka://host:port[,host:port] gives host:port strings; the port defaults to 9092."""
    assert bootstrap_servers(url) == servers
    assert KafkaTransport(url).bootstrap_servers == servers


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://", "scheme is 'memory', not 'kafka'"),
        ("localhost:9092", "not 'kafka'"),
        ("kafka://", "no broker address"),
        ("kafka://h1:9092/topic", "unexpected path"),
        ("kafka://h1:9092?acks=all", "unexpected path, query"),
        ("kafka://h1:port", "bad port 'port'"),
        ("kafka://h1:70000", "bad port '70000'"),
        ("kafka://h1:9092,", "bad host ''"),
        ("kafka://h1:9092,,h2:9092", "bad host ''"),
        ("kafka://user:secret@h1:9092", "credentials"),
        ("kafka://h 1:9092", "bad host"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    """A malformed URL raises ConfigurationError naming the problem and the usage."""
    with pytest.raises(ConfigurationError, match="kafka://host:port") as info:
        KafkaTransport(url)
    assert message in str(info.value)


def test_credentials_in_the_url_point_to_broker_credentials() -> None:
    """A password in the URL is refused, not repeated, with what to write instead."""
    with pytest.raises(ConfigurationError, match="broker_credentials=") as info:
        KafkaTransport("kafka://user:hunter2@h1:9092")
    assert "hunter2" not in str(info.value)


def test_credentials_map_to_aiokafka_security_settings() -> None:
    """One mapping for every client: no credentials, nothing; TLS, SSL with its context;
    SASL, the mechanism, user and password, SASL_SSL with a context."""
    context = ssl.create_default_context()
    assert security_kwargs(None) == {}
    assert security_kwargs(SSLCredentials(context)) == {
        "security_protocol": "SSL",
        "ssl_context": context,
    }
    sasl = SASLCredentials(
        username="u", password="p", mechanism="SCRAM-SHA-512", ssl_context=context
    )
    assert security_kwargs(sasl) == {
        "security_protocol": "SASL_SSL",
        "ssl_context": context,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
    assert security_kwargs(SASLCredentials(username="u", password="p")) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }


def test_the_transport_gets_the_apps_credentials_and_masks_them() -> None:
    """App(broker_credentials=...) reaches the Kafka transport; its repr masks the password."""
    credentials = SASLCredentials(username="u", password="hunter2")
    app = App("a", broker="kafka://h1:9092", broker_credentials=credentials)
    transport = app.transport
    assert isinstance(transport, KafkaTransport)
    assert transport.credentials is credentials
    assert "hunter2" not in repr(transport)


def test_the_app_finds_the_transport_by_scheme() -> None:
    """The entry point 'kafka' in rxstreams.transports opens a KafkaTransport."""
    transport = transport_from_url("kafka://h1:9092,h2:9092")
    assert isinstance(transport, KafkaTransport)
    assert transport.url == "kafka://h1:9092,h2:9092"


def test_consumer_config_maps_to_manual_commits_and_milliseconds() -> None:
    """Commits are manual only; timeouts become milliseconds; fetch_max_wait is used."""
    config = ConsumerConfig(
        group_id="g",
        client_id="c",
        auto_offset_reset="latest",
        session_timeout=10,
        heartbeat_interval=3,
        rebalance_timeout=30,
        max_poll_records=50,
        fetch_max_wait=0.01,
    )
    assert consumer_kwargs(config) == {
        "group_id": "g",
        "client_id": "c",
        "enable_auto_commit": False,
        "auto_offset_reset": "latest",
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        "rebalance_timeout_ms": 30_000,
        "max_poll_interval_ms": 30_000,
        "max_poll_records": 50,
        "fetch_max_wait_ms": 10,
        "isolation_level": "read_uncommitted",
    }


def test_the_heartbeat_stays_within_a_short_session_timeout() -> None:
    """A session timeout below 3 heartbeats shortens the heartbeat to a third of it."""
    config = ConsumerConfig(group_id="g", client_id="c", session_timeout=3)
    assert consumer_kwargs(config)["heartbeat_interval_ms"] == 1_000


def test_reader_config_maps_to_no_group_and_no_commits() -> None:
    """A reader joins no group (group_id=None: no FindCoordinator or JoinGroup is sent),
    commits nothing, and resets out-of-range positions to the log start."""
    config = ReaderConfig(
        client_id="r", fetch_max_wait=0.01, max_poll_records=50, request_timeout=5
    )
    assert reader_kwargs(config) == {
        "group_id": None,
        "client_id": "r",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 50,
        "fetch_max_wait_ms": 10,
        "request_timeout_ms": 5_000,
        "isolation_level": "read_uncommitted",
    }


def test_the_default_producer_config_asks_for_acks_all_and_idempotence() -> None:
    """By default aiokafka is asked for acks=all and an idempotent producer."""
    assert producer_kwargs(ProducerConfig(client_id="p")) == {
        "client_id": "p",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "max_batch_size": 16384,
        "compression_type": None,
        "request_timeout_ms": 40_000,
        "max_request_size": 1_048_576,
    }


def test_every_producer_setting_maps_to_its_aiokafka_argument() -> None:
    """acks, idempotence, linger, batch size, compression and request limits pass through."""
    config = ProducerConfig(
        client_id="p",
        linger=0.005,
        max_batch_size=1024,
        acks=1,
        idempotence=False,
        compression="gzip",
        request_timeout=2.5,
        max_request_size=4096,
    )
    assert producer_kwargs(config) == {
        "client_id": "p",
        "acks": 1,
        "enable_idempotence": False,
        "linger_ms": 5,
        "max_batch_size": 1024,
        "compression_type": "gzip",
        "request_timeout_ms": 2_500,
        "max_request_size": 4096,
    }


def test_read_committed_passes_through_to_consumers_and_readers() -> None:
    """Exactly-once apps read only committed records: aiokafka's isolation_level."""
    consumer = ConsumerConfig(group_id="g", client_id="c", isolation_level="read_committed")
    reader = ReaderConfig(client_id="r", isolation_level="read_committed")
    assert consumer_kwargs(consumer)["isolation_level"] == "read_committed"
    assert reader_kwargs(reader)["isolation_level"] == "read_committed"
    with pytest.raises(ConfigurationError, match="isolation_level must be"):
        ConsumerConfig(group_id="g", client_id="c", isolation_level="committed")  # type: ignore[arg-type]


def test_a_transactional_producer_is_idempotent_with_its_id_and_timeout() -> None:
    """transactional_id and transaction_timeout reach aiokafka; idempotence is implied."""
    config = ProducerConfig(client_id="p", transactional_id="app-1", transaction_timeout=12.5)
    kwargs = producer_kwargs(config)
    assert kwargs["transactional_id"] == "app-1"
    assert kwargs["transaction_timeout_ms"] == 12_500
    assert kwargs["enable_idempotence"] is True
    assert "transactional_id" not in producer_kwargs(ProducerConfig(client_id="p"))


@pytest.mark.parametrize(("acks", "idempotence"), [(1, None), ("all", False), (0, None)])
def test_a_transactional_producer_refuses_acks_below_all_or_no_idempotence(
    acks: Literal[0, 1, "all"], idempotence: bool | None
) -> None:
    """Transactions need an idempotent producer that waits for every in-sync replica."""
    with pytest.raises(ConfigurationError, match="transactional producer"):
        ProducerConfig(client_id="p", acks=acks, idempotence=idempotence, transactional_id="t")


@pytest.mark.parametrize(
    ("acks", "idempotence", "enabled"),
    [
        ("all", None, True),
        ("all", True, True),
        ("all", False, False),
        (1, None, False),
        (0, None, False),
        (1, False, False),
    ],
)
def test_idempotence_is_asked_for_only_with_acks_all(
    acks: Literal[0, 1, "all"], idempotence: bool | None, enabled: bool
) -> None:
    """Idempotence None means on with acks='all' and off with acks 0 or 1 (as in Java)."""
    config = ProducerConfig(client_id="p", acks=acks, idempotence=idempotence)
    assert producer_kwargs(config)["enable_idempotence"] is enabled


@pytest.mark.parametrize("compression", ["snappy", "lz4", "zstd"])
def test_a_compression_without_its_library_is_refused_when_the_producer_is_created(
    compression: Literal["snappy", "lz4", "zstd"], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without cramjam, snappy, lz4 and zstd fail at create_producer, naming the package."""
    monkeypatch.setattr(codec, "cramjam", None)  # as on a machine without it
    transport = KafkaTransport("kafka://127.0.0.1:9")  # creating a producer connects nowhere
    config = ProducerConfig(client_id="p", compression=compression)
    with pytest.raises(
        ConfigurationError,
        match=rf"producer_compression='{compression}' needs the 'cramjam' package.*"
        "pip install cramjam",
    ):
        transport.create_producer(config)


def test_gzip_needs_no_extra_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """gzip compression works with the standard library alone."""
    monkeypatch.setattr(codec, "cramjam", None)
    assert producer_kwargs(ProducerConfig("p", compression="gzip"))["compression_type"] == "gzip"


def test_the_public_api_is_exactly_all() -> None:
    """The package exports what it lists in __all__."""
    public = {name for name in dir(rxstreams_kafka) if not name.startswith("_")}
    assert public == set(rxstreams_kafka.__all__)
