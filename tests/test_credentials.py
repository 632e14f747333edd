"""broker_credentials: SASL and TLS credentials checked when they are made, passwords never
shown, and an app with them runs on the embedded broker unchanged."""

from __future__ import annotations

import copy
import ssl
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import rxstreams.transports
from rxstreams import (
    App,
    ArgumentTypeError,
    ConfigurationError,
    SASLCredentials,
    SSLCredentials,
    Stream,
)
from rxstreams.credentials import as_credentials
from rxstreams.transports import transport_from_url
from rxstreams_memory import MemoryTransport
from tests.brokers.tls import PKI, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """A throwaway CA with a client certificate whose key is encrypted."""
    return make_pki(tmp_path_factory.mktemp("pki"))


# -- SASL ---------------------------------------------------------------------------------------


def test_sasl_is_plaintext_without_a_context_and_ssl_with_one() -> None:
    """The security protocol follows ssl_context, as in Faust; the mechanism is PLAIN by
    default and taken in any case."""
    plain = SASLCredentials(username="u", password="p")
    assert (plain.protocol, plain.mechanism, plain.ssl_context) == ("SASL_PLAINTEXT", "PLAIN", None)
    context = ssl.create_default_context()
    scram = SASLCredentials(
        username="u", password="p", mechanism="scram-sha-256", ssl_context=context
    )
    assert (scram.protocol, scram.mechanism, scram.ssl_context) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        context,
    )
    tls = SSLCredentials(context)
    assert SASLCredentials(username="u", password="p", ssl_context=tls).ssl_context is context


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"mechanism": "GSSAPI"}, ConfigurationError, r"unknown SASL mechanism 'GSSAPI'.*PLAIN"),
        ({"mechanism": "SCRAM-SHA-1"}, ConfigurationError, "unknown SASL mechanism"),
        ({"username": ""}, ConfigurationError, "non-empty username"),
        ({"password": ""}, ConfigurationError, "non-empty password"),
        ({"username": None}, ArgumentTypeError, "username must be a string"),
        ({"password": b"bytes"}, ArgumentTypeError, "password must be a string"),
        ({"ssl_context": "yes"}, ArgumentTypeError, r"ssl\.SSLContext"),
        (
            {"ssl_context": ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)},
            ConfigurationError,
            "server's",
        ),
    ],
)
def test_bad_sasl_credentials_are_refused_when_made(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    """What is wrong is named at once, not at the first connection."""
    given: dict[str, Any] = {"username": "u", "password": "p", **arguments}
    with pytest.raises(error, match=message):
        SASLCredentials(**given)


def test_the_sasl_password_is_never_in_the_repr() -> None:
    """repr() shows the mechanism, the user and the TLS part, and *** for the password;
    copies are the object itself (nothing to copy the secret into)."""
    credentials = SASLCredentials(username="alice", password="hunter2", mechanism="PLAIN")
    assert repr(credentials) == (
        "SASLCredentials(mechanism='PLAIN', username='alice', password='***')"
    )
    assert "hunter2" not in str(credentials)
    assert credentials.password == "hunter2"  # the transport reads it
    assert copy.copy(credentials) is credentials
    assert copy.deepcopy({"c": credentials})["c"] is credentials


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_from_files_builds_a_verifying_context(pki: PKI) -> None:
    """cafile is trusted, the client certificate and its encrypted key are loaded, and the
    broker's certificate and host name are checked."""
    credentials = SSLCredentials(
        cafile=pki.ca,
        certfile=pki.client_cert,
        keyfile=pki.client_key,
        password=pki.client_key_password,
    )
    context = credentials.ssl_context
    assert credentials.protocol == "SSL"
    assert context is credentials.context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "rxstreams test CA"} in subjects
    assert repr(credentials) == (
        f"SSLCredentials(cafile={str(pki.ca)!r}, certfile={str(pki.client_cert)!r}, "
        f"keyfile={str(pki.client_key)!r}, password='***')"
    )


def test_tls_without_files_trusts_the_system_cas() -> None:
    """SSLCredentials() is TLS to a broker with a public certificate (Confluent Cloud)."""
    credentials = SSLCredentials()
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert repr(credentials) == "SSLCredentials()"


def test_a_given_context_is_used_as_it_is() -> None:
    """Faust's SSLCredentials(context)."""
    context = ssl.create_default_context()
    assert SSLCredentials(context).context is context
    assert repr(SSLCredentials(context)) == (
        "SSLCredentials(context=<ssl.SSLContext verify_mode=CERT_REQUIRED check_hostname=True>)"
    )


def test_bad_tls_files_are_refused_when_made(pki: PKI, tmp_path: Path) -> None:
    """A missing file, a file that is no certificate, a key without its certificate, a
    wrong key password, files with a context: a ConfigurationError naming it (the wrong
    password is not repeated)."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError, match=f"cafile '{missing}' does not exist"):
        SSLCredentials(cafile=missing)
    with pytest.raises(ConfigurationError, match=r"certfile .* does not exist"):
        SSLCredentials(certfile=missing)
    with pytest.raises(ConfigurationError, match=r"capath .* is not a directory"):
        SSLCredentials(capath=missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match=r"cafile '.*garbage\.pem' holds no valid CA"):
        SSLCredentials(cafile=garbage)
    with pytest.raises(ConfigurationError, match="keyfile but no certfile"):
        SSLCredentials(keyfile=pki.client_key)
    with pytest.raises(ConfigurationError, match="key password but no certfile"):
        SSLCredentials(password="x")
    with pytest.raises(ConfigurationError, match="could not load the client certificate") as info:
        SSLCredentials(certfile=pki.client_cert, keyfile=pki.client_key, password="wrong-pw")
    assert "wrong-pw" not in str(info.value)
    with pytest.raises(ConfigurationError, match="a context or files, not both"):
        SSLCredentials(ssl.create_default_context(), cafile=pki.ca)
    with pytest.raises(ArgumentTypeError, match=r"ssl\.SSLContext"):
        SSLCredentials("context")  # type: ignore[arg-type]


# -- as a setting -------------------------------------------------------------------------------


def test_broker_credentials_take_an_ssl_context_as_tls() -> None:
    """An ssl.SSLContext (Faust's broker_credentials) becomes SSLCredentials(context);
    anything else that is not credentials is refused."""
    context = ssl.create_default_context()
    found = App("a", broker_credentials=context).conf.broker_credentials
    assert isinstance(found, SSLCredentials)
    assert found.context is context
    assert App("a").conf.broker_credentials is None
    assert as_credentials(None) is None
    with pytest.raises(ArgumentTypeError, match=r"broker_credentials must be an ssl\.SSLContext"):
        App("a", broker_credentials=("user", "password"))


def test_the_app_and_its_settings_never_show_the_password() -> None:
    """repr and str of the app and its settings show the credentials masked."""
    credentials = SASLCredentials(
        username="key",
        password="the-secret",
        mechanism="SCRAM-SHA-512",
        ssl_context=ssl.create_default_context(),
    )
    app = App("a", broker="kafka://h:9092", broker_credentials=credentials)
    for shown in (repr(app), repr(app.conf), str(app.conf), app._repr_html_()):
        assert "the-secret" not in shown
    assert "password='***'" in repr(app.conf)


def test_credentials_in_the_broker_url_are_refused_without_repeating_them() -> None:
    """kafka://user:password@host: a ConfigurationError pointing to broker_credentials,
    with the host but not the password."""
    with pytest.raises(ConfigurationError, match="broker_credentials=") as info:
        App("a", broker="kafka://user:hunter2@h1:9092")
    assert "hunter2" not in str(info.value)
    assert "kafka://...@h1:9092" in str(info.value)


async def test_an_app_with_credentials_runs_on_the_embedded_broker() -> None:
    """The same app code runs on memory:// in tests: the credentials are ignored there."""
    credentials = SASLCredentials(username="u", password="p", mechanism="SCRAM-SHA-256")
    app = App("secured", broker="memory://secured-test", broker_credentials=credentials)
    topic = app.topic("in", partitions=1)

    @app.agent(topic)
    async def double(stream: Stream[int]) -> Any:
        async for value in stream:
            yield value * 2

    await topic.send(value=21)
    assert (await app.run(until_idle=True, timeout=30)).all == [42]


# -- how the transport gets them ----------------------------------------------------------------


class NoCredentials:
    """A third-party transport factory that knows nothing of credentials."""

    def __init__(self, url: str) -> None:
        self.url = url


def test_transports_get_the_credentials_as_an_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """transport_from_url passes credentials= to the factory (the memory transport takes
    and ignores them); a factory that takes no credentials is refused when there are
    some, and called as before when there are none."""
    credentials = SASLCredentials(username="u", password="p")
    assert isinstance(transport_from_url("memory://t", credentials=credentials), MemoryTransport)
    found = EntryPoint("plain", f"{__name__}:NoCredentials", rxstreams.transports.ENTRY_POINT_GROUP)
    monkeypatch.setattr(rxstreams.transports, "entry_points", lambda group: [found])
    assert isinstance(transport_from_url("plain://x"), NoCredentials)
    with pytest.raises(ConfigurationError, match="takes no broker_credentials"):
        transport_from_url("plain://x", credentials=credentials)
