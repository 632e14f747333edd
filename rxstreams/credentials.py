"""Credentials for a secured broker: the app's ``broker_credentials`` setting.

::

    Credentials          what broker_credentials holds (an ssl.SSLContext is taken as
    │                    SSLCredentials(context))
    ├── SSLCredentials   TLS (Kafka's security protocol SSL): the broker is verified with
    │                    a context, or CA files; a client certificate (mTLS) if given
    └── SASLCredentials  a username and password (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512):
                         SASL_SSL when given a TLS context, SASL_PLAINTEXT otherwise

Everything is checked when the credentials are created (a file that is not there, a
mechanism that is unknown, an empty username: a :class:`~rxstreams.errors.ConfigurationError`
naming it), and the TLS context is built then, so a key that does not match its
certificate fails at once, not at the first connection. Passwords never appear in a
``repr`` (nor, then, in the app's settings, logs or error messages): they show as
``'***'``. The objects are not changed once made; copying one returns it.

The Kafka transport maps them to aiokafka's settings (``rxstreams_kafka``); the embedded
broker accepts and ignores them, so the same app runs on ``memory://`` in tests.
"""

from __future__ import annotations

import os
import ssl
from abc import ABC, abstractmethod
from typing import Any, Literal

from .errors import ArgumentTypeError, ConfigurationError

__all__ = (
    "SASL_MECHANISMS",
    "Credentials",
    "SASLCredentials",
    "SSLCredentials",
    "as_credentials",
)

#: the SASL mechanisms rxstreams speaks (through aiokafka)
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SecurityProtocol = Literal["SSL", "SASL_SSL", "SASL_PLAINTEXT"]
_MASK = "***"


class Credentials(ABC):
    """What a secured broker needs to accept a connection (see the subclasses)."""

    __slots__ = ()

    @property
    @abstractmethod
    def protocol(self) -> SecurityProtocol:
        """Kafka's name of the security protocol: ``SSL``, ``SASL_SSL`` or ``SASL_PLAINTEXT``."""

    @property
    @abstractmethod
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context connections are wrapped with (None: no TLS)."""

    def __copy__(self) -> Credentials:
        return self  # immutable (and an SSLContext cannot be copied)

    def __deepcopy__(self, memo: dict[int, Any]) -> Credentials:
        return self


def _file(argument: str, path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike):
        raise ArgumentTypeError(f"{argument} must be a path, not {type(path).__name__}")
    found = os.fspath(path)
    if argument == "capath" and not os.path.isdir(found):
        raise ConfigurationError(f"capath {found!r} is not a directory")
    if argument != "capath" and not os.path.isfile(found):
        raise ConfigurationError(f"{argument} {found!r} does not exist (or is not a file)")
    return found


class SSLCredentials(Credentials):
    """TLS to the broker (security protocol ``SSL``), also the TLS part of SASL_SSL.

    Either a ready ``context`` (an :class:`ssl.SSLContext` for a client, as
    ``ssl.create_default_context()`` makes), or files to build one from: ``cafile``,
    ``capath`` or ``cadata`` hold the CA certificates the broker's certificate must be
    signed by (none: the system's CAs, which is right for a cluster with a public
    certificate); ``certfile`` and ``keyfile`` a client certificate and its key (mutual
    TLS), ``password`` the key's password if it is encrypted. The broker's certificate is
    always verified, its host name too.

    Args:
        context: a client TLS context to use as it is.
        cafile / capath / cadata: CA certificates (PEM file, directory, or PEM text).
        certfile: the client certificate (PEM), for mutual TLS; may also hold the key.
        keyfile: its private key (PEM), if not in ``certfile``.
        password: the private key's password (never shown).

    Raises:
        ConfigurationError: a file that is not there or does not hold what it should, a
            key without its certificate, a context given with files, a server context.
        ArgumentTypeError: a context that is not an ``ssl.SSLContext``.
    """

    __slots__ = ("_cafile", "_capath", "_certfile", "_context", "_given", "_keyfile", "_password")

    def __init__(
        self,
        context: ssl.SSLContext | None = None,
        *,
        cafile: str | os.PathLike[str] | None = None,
        capath: str | os.PathLike[str] | None = None,
        cadata: str | None = None,
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        password: str | None = None,
    ) -> None:
        files = {
            "cafile": cafile,
            "capath": capath,
            "cadata": cadata,
            "certfile": certfile,
            "keyfile": keyfile,
            "password": password,
        }
        given = [name for name, value in files.items() if value is not None]
        if context is not None:
            if given:
                raise ConfigurationError(
                    f"SSLCredentials takes a context or files, not both (got context and "
                    f"{', '.join(given)}): load the files into your context, or leave it out"
                )
            _check_context(context)
        self._cafile = _file("cafile", cafile)
        self._capath = _file("capath", capath)
        self._certfile = _file("certfile", certfile)
        self._keyfile = _file("keyfile", keyfile)
        self._password = password
        self._given = context is not None
        if cadata is not None and not isinstance(cadata, str):
            raise ArgumentTypeError(f"cadata must be PEM text, not {type(cadata).__name__}")
        if self._keyfile is not None and self._certfile is None:
            raise ConfigurationError(
                "SSLCredentials got keyfile but no certfile: a client key needs its certificate"
            )
        if password is not None and self._certfile is None:
            raise ConfigurationError(
                "SSLCredentials got a key password but no certfile/keyfile to decrypt"
            )
        if context is None:
            context = self._build(cadata)
        self._context = context

    def _build(self, cadata: str | None) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=self._cafile, capath=self._capath, cadata=cadata
            )
        except ssl.SSLError as exc:
            where = f"cafile {self._cafile!r}" if self._cafile else "cadata"
            raise ConfigurationError(
                f"{where} holds no valid CA certificate (PEM): {exc.reason or exc}"
            ) from None
        if self._certfile is not None:
            try:
                context.load_cert_chain(self._certfile, self._keyfile, self._password)
            except ssl.SSLError as exc:
                raise ConfigurationError(
                    f"could not load the client certificate {self._certfile!r}"
                    + (f" with key {self._keyfile!r}" if self._keyfile else "")
                    + f": {exc.reason or exc} (is the key the certificate's, and its "
                    "password right?)"
                ) from None
        return context

    @property
    def protocol(self) -> SecurityProtocol:
        return "SSL"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return self._context

    @property
    def context(self) -> ssl.SSLContext:
        """The TLS context (Faust's name for it)."""
        return self._context

    @property
    def cafile(self) -> str | None:
        return self._cafile

    @property
    def certfile(self) -> str | None:
        return self._certfile

    @property
    def keyfile(self) -> str | None:
        return self._keyfile

    def __repr__(self) -> str:
        if self._given:
            context = self._context
            return (
                f"SSLCredentials(context=<ssl.SSLContext verify_mode={context.verify_mode.name} "
                f"check_hostname={context.check_hostname}>)"
            )
        shown = [
            f"{name}={value!r}"
            for name, value in (
                ("cafile", self._cafile),
                ("capath", self._capath),
                ("certfile", self._certfile),
                ("keyfile", self._keyfile),
            )
            if value is not None
        ]
        if self._password is not None:
            shown.append(f"password={_MASK!r}")
        return f"SSLCredentials({', '.join(shown)})"


def _check_context(context: object) -> ssl.SSLContext:
    if not isinstance(context, ssl.SSLContext):
        raise ArgumentTypeError(
            f"a TLS context must be an ssl.SSLContext (ssl.create_default_context()), "
            f"not {type(context).__name__}"
        )
    if context.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ConfigurationError(
            "this SSLContext is a server's (Purpose.CLIENT_AUTH / PROTOCOL_TLS_SERVER): "
            "connecting to a broker needs a client context, ssl.create_default_context()"
        )
    return context


class SASLCredentials(Credentials):
    """A username and password checked by the broker with SASL.

    ``mechanism`` is ``"PLAIN"`` (the default; Confluent Cloud's API key and secret),
    ``"SCRAM-SHA-256"`` or ``"SCRAM-SHA-512"`` (Amazon MSK, Redpanda), in any case. With
    ``ssl_context`` (an :class:`ssl.SSLContext`, or :class:`SSLCredentials`) the connection
    is TLS first (security protocol ``SASL_SSL``); without it, it is not encrypted
    (``SASL_PLAINTEXT``), and PLAIN then sends the password in clear: only for a network
    you trust. Managed clusters all want ``SASL_SSL``:
    ``ssl_context=ssl.create_default_context()``.

    Raises:
        ConfigurationError: an empty username or password, an unknown mechanism.
        ArgumentTypeError: a username, password or context of the wrong type.
    """

    __slots__ = ("_mechanism", "_password", "_tls", "_username")

    def __init__(
        self,
        *,
        username: str,
        password: str,
        mechanism: str = "PLAIN",
        ssl_context: ssl.SSLContext | SSLCredentials | None = None,
    ) -> None:
        for name, value in (("username", username), ("password", password)):
            if not isinstance(value, str):
                raise ArgumentTypeError(
                    f"SASLCredentials {name} must be a string, not {type(value).__name__}"
                )
            if not value:
                raise ConfigurationError(f"SASLCredentials needs a non-empty {name}")
        if not isinstance(mechanism, str) or mechanism.upper() not in SASL_MECHANISMS:
            raise ConfigurationError(
                f"unknown SASL mechanism {mechanism!r}: use one of {', '.join(SASL_MECHANISMS)} "
                "(GSSAPI and OAUTHBEARER are not supported)"
            )
        self._username = username
        self._password = password
        self._mechanism = mechanism.upper()
        if ssl_context is None or isinstance(ssl_context, SSLCredentials):
            self._tls = ssl_context
        else:
            self._tls = SSLCredentials(_check_context(ssl_context))

    @property
    def protocol(self) -> SecurityProtocol:
        return "SASL_PLAINTEXT" if self._tls is None else "SASL_SSL"

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return None if self._tls is None else self._tls.ssl_context

    @property
    def mechanism(self) -> str:
        """``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``."""
        return self._mechanism

    @property
    def username(self) -> str:
        return self._username

    @property
    def password(self) -> str:
        """The password, for the transport that sends it (never in a repr)."""
        return self._password

    def __repr__(self) -> str:
        tls = "" if self._tls is None else f", ssl_context={self._tls!r}"
        return (
            f"SASLCredentials(mechanism={self._mechanism!r}, username={self._username!r}, "
            f"password={_MASK!r}{tls})"
        )


def as_credentials(value: object) -> Credentials | None:
    """``broker_credentials`` as :class:`Credentials`: an ``ssl.SSLContext`` becomes
    ``SSLCredentials(context)``; None stays None; anything else is an ArgumentTypeError."""
    if value is None or isinstance(value, Credentials):
        return value
    if isinstance(value, ssl.SSLContext):
        return SSLCredentials(value)
    raise ArgumentTypeError(
        "broker_credentials must be an ssl.SSLContext, rxstreams.SSLCredentials or "
        f"rxstreams.SASLCredentials, not {type(value).__name__}"
    )
