"""An Apache Kafka broker with every kind of secured listener, for the TLS and SASL tests.

:func:`secured_broker` configures a :class:`~tests.brokers.kafka.KafkaBroker` (not started)
with, besides its PLAINTEXT listener (inter-broker, readiness checks):

- ``SASL_SSL`` — TLS, then SASL: PLAIN (users in the listener's JAAS configuration),
  SCRAM-SHA-256 and SCRAM-SHA-512 (users created when the storage is formatted);
- ``SASL_PLAINTEXT`` — the same users, without TLS;
- ``SSL`` — TLS only, the broker's certificate signed by the throwaway CA of
  :func:`tests.brokers.tls.make_pki` (PEM keystore and truststore);
- ``MTLS`` — TLS that requires a client certificate signed by that CA.

Each user gets a fresh random password per broker (:class:`User`), so a test can look for
it in logs and know that any match is a leak. Nothing here imports pytest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tests.brokers.kafka import KafkaBroker
from tests.brokers.tls import PKI, make_pki

__all__ = ("SASL_LISTENERS", "SecuredKafka", "User", "secured_broker")

#: listener name -> security protocol
LISTENERS = {
    "SASL_SSL": "SASL_SSL",
    "SASL_PLAINTEXT": "SASL_PLAINTEXT",
    "SSL": "SSL",
    "MTLS": "SSL",
}
SASL_LISTENERS = ("SASL_SSL", "SASL_PLAINTEXT")
_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class User:
    """A SASL user of the broker: name, mechanism and a password made for this broker."""

    name: str
    mechanism: str
    password: str = field(default_factory=lambda: f"pw-{secrets.token_hex(12)}", repr=False)


@dataclass
class SecuredKafka:
    """The broker, its PKI and users; :meth:`url` gives a listener's ``kafka://`` URL."""

    broker: KafkaBroker
    pki: PKI
    users: dict[str, User]  #: by mechanism

    def url(self, listener: str) -> str:
        return f"kafka://127.0.0.1:{self.broker.ports[listener]}"


def secured_broker(directory: Path) -> SecuredKafka:
    """A broker in ``directory`` with the listeners above (not started), its PKI made in
    ``directory / "pki"``, one user per SASL mechanism."""
    pki = make_pki(directory / "pki")
    users = {
        mechanism: User(name, mechanism)
        for mechanism, name in (
            ("PLAIN", "alice"),
            ("SCRAM-SHA-256", "bob"),
            ("SCRAM-SHA-512", "carol"),
        )
    }
    plain = users["PLAIN"]
    config = {
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.broker),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "listener.name.mtls.ssl.client.auth": "required",
    }
    for listener in SASL_LISTENERS:
        prefix = f"listener.name.{listener.lower()}"
        config[f"{prefix}.plain.sasl.jaas.config"] = (
            f'{_PLAIN} required user_{plain.name}="{plain.password}";'
        )
        for mechanism in ("scram-sha-256", "scram-sha-512"):
            config[f"{prefix}.{mechanism}.sasl.jaas.config"] = f"{_SCRAM} required;"
    broker = KafkaBroker(
        directory / "kafka",
        listeners=LISTENERS,
        config=config,
        scram=[(u.mechanism, u.name, u.password) for u in users.values() if u.mechanism != "PLAIN"],
    )
    return SecuredKafka(broker, pki, users)
