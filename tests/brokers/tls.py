"""A throwaway certificate authority for the TLS tests, made with ``cryptography``.

:func:`make_pki` writes, into a directory, PEM files a Kafka broker (``ssl.keystore.type=PEM``)
and the clients need: the CA's certificate, the broker's certificate for ``127.0.0.1`` and
``localhost`` signed by it (with its key in one file, as Kafka's PEM keystore wants it), a
client certificate for mutual TLS (its key encrypted with a password, to test that too), and
a second CA nobody trusts. Keys are EC P-256: fast to make. Nothing here imports pytest.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ("PKI", "make_pki")

#: the password of the client's key (a test fixture, not a secret)
CLIENT_KEY_PASSWORD = "client-key-password"


@dataclass(frozen=True)
class PKI:
    """The PEM files :func:`make_pki` wrote."""

    ca: Path  #: the CA's certificate (what clients and the broker trust)
    broker: Path  #: the broker's private key and certificate chain, in one file
    client_cert: Path  #: a client certificate signed by the CA (mutual TLS)
    client_key: Path  #: its key, encrypted with :data:`CLIENT_KEY_PASSWORD`
    client_key_password: str
    other_ca: Path  #: a CA that signed nothing the broker has
    other_client_cert: Path  #: a client certificate signed by the other CA
    other_client_key: Path  #: its key, not encrypted


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class _Authority:
    def __init__(self, name: str) -> None:
        self.key = _key()
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    def issue(
        self, name: str, *, server: bool
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return key, builder.sign(self.key, hashes.SHA256())


def make_pki(directory: Path) -> PKI:
    """A CA, a broker certificate and client certificates, as PEM files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _Authority("rxstreams test CA")
    other = _Authority("rxstreams untrusted CA")
    broker_key, broker_cert = ca.issue("localhost", server=True)
    client_key, client_cert = ca.issue("rxstreams-client", server=False)
    other_key, other_cert = other.issue("rxstreams-stranger", server=False)
    files = {
        "ca.pem": _pem(ca.cert),
        "broker.pem": _pem_key(broker_key) + _pem(broker_cert) + _pem(ca.cert),
        "client.pem": _pem(client_cert),
        "client.key": _pem_key(client_key, CLIENT_KEY_PASSWORD),
        "other-ca.pem": _pem(other.cert),
        "stranger.pem": _pem(other_cert),
        "stranger.key": _pem_key(other_key),
    }
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return PKI(
        ca=directory / "ca.pem",
        broker=directory / "broker.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_password=CLIENT_KEY_PASSWORD,
        other_ca=directory / "other-ca.pem",
        other_client_cert=directory / "stranger.pem",
        other_client_key=directory / "stranger.key",
    )
