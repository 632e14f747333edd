"""Why a client with credentials could not connect: the password, the TLS certificate, or
the network.

aiokafka's bootstrap tries each server, logs why it failed (at ERROR) and then raises only
``KafkaConnectionError("Unable to bootstrap from [...]")``: the reason is not in the
exception, and the adapter would say "is the broker running?" (a retriable
:class:`~rxstreams.errors.BrokerUnavailableError`) for a wrong password too. When a client
that has credentials fails to start that way, :func:`explained` connects once more to each
bootstrap server with the same settings, keeps the exception that says why, and raises
instead (neither is retriable: trying again does not fix a password):

- the broker refused the SASL credentials or mechanism -> :class:`AuthenticationError`
- the TLS handshake failed (the broker's certificate is not trusted, or is not its
  name's; the broker refused ours; the listener does not speak TLS) -> :class:`TLSError`

If every server answers the handshake (the failure was something else), or none can be
reached at all, the original error stands. Nothing of the credentials is in the messages
but the username and mechanism.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError

from rxstreams.errors import AuthenticationError, BrokerUnavailableError, TLSError

from ._errors import AUTHENTICATION, authentication_error

__all__ = ("diagnose", "explained")

#: the most one diagnosing connection may take, per server
HANDSHAKE_TIMEOUT = 5.0


@asynccontextmanager
async def explained(
    servers: Sequence[str], security: Mapping[str, Any], doing: str
) -> AsyncIterator[None]:
    """Turn a :class:`BrokerUnavailableError` raised by the block (a client starting) into
    the :class:`AuthenticationError` or :class:`TLSError` that caused it, if the client
    has credentials (``security``, aiokafka's keyword arguments) and that was the cause."""
    try:
        yield
    except BrokerUnavailableError as exc:
        if not security:
            raise
        cause = await diagnose(servers, security, doing)
        if cause is None:
            raise
        raise cause from exc


async def diagnose(
    servers: Sequence[str],
    security: Mapping[str, Any],
    doing: str,
    *,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> AuthenticationError | None:
    """Connect to each server with ``security`` until one completes the handshake; the
    authentication or TLS error of the first that refused, or None."""
    for server in servers:
        host, _, port = server.rpartition(":")
        address = (host.strip("[]"), int(port))
        try:
            async with asyncio.timeout(timeout):
                connection = await create_conn(
                    *address,
                    client_id="rxstreams-handshake",
                    request_timeout_ms=round(timeout * 1000),
                    **security,
                )
        except ssl.SSLError as exc:
            return _tls_error(exc, server, doing)
        except AUTHENTICATION as exc:
            return authentication_error(exc, doing, server=server, security=security)
        except (TimeoutError, ConnectionRefusedError, socket.gaierror):
            continue  # nobody there, or no answer: not a question of credentials
        except (OSError, KafkaError):
            # closed without saying why: aiokafka's reader task saw the TLS alert (a
            # client certificate refused, say), or the two ends disagree on TLS
            found = await _probe(address, server, security.get("ssl_context"), doing, timeout)
            if found is not None:
                return found
            continue  # not this server: the next one may say more
        connection.close()
        return None
    return None


def _tls_error(exc: ssl.SSLError, server: str, doing: str) -> TLSError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(
            f"{doing} failed: the TLS certificate of the broker at {server} is not "
            f"trusted ({exc.verify_message}). broker_credentials must trust the CA that "
            "signed it (SSLCredentials(cafile=...), or an SSLContext that loads it), and "
            "the certificate must name the host of the broker URL",
            retriable=False,
        )
    return TLSError(
        f"{doing} failed: the TLS handshake with the broker at {server} failed "
        f"({exc.reason or exc}). Is this listener TLS (SSL or SASL_SSL), and does it accept "
        "this client's certificate (SSLCredentials certfile/keyfile, if it requires one)?",
        retriable=False,
    )


#: ApiVersions v0 (api key 18), correlation id 1, client id "rxstreams-handshake": the
#: first request of every Kafka client, which a broker answers before authentication
_CLIENT_ID = b"rxstreams-handshake"
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, len(_CLIENT_ID)) + _CLIENT_ID
_REQUEST = struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS


async def _probe(
    address: tuple[str, int],
    server: str,
    context: ssl.SSLContext | None,
    doing: str,
    timeout: float,
) -> TLSError | None:
    """Find out what aiokafka could not say. With TLS: handshake and send one request,
    so a TLS alert the broker sends after the handshake (TLS 1.3 checks the client's
    certificate then) comes out as an ``ssl.SSLError``. Without TLS: whether the listener
    speaks TLS (a handshake with no verification completes), which a plaintext client
    cannot talk to."""
    probe = context
    if probe is None:
        probe = ssl.create_default_context()
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE  # only to see if TLS is spoken: nothing is sent
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*address, ssl=probe)
            if context is None:
                return TLSError(
                    f"{doing} failed: the listener at {server} speaks TLS, and "
                    "broker_credentials do not: give SASLCredentials an ssl_context "
                    "(SASL_SSL), or use SSLCredentials / an ssl.SSLContext (SSL)",
                    retriable=False,
                )
            writer.write(_REQUEST)
            await writer.drain()
            await reader.readexactly(4)
    except ssl.SSLError as exc:
        return None if context is None else _tls_error(exc, server, doing)
    except (ConnectionResetError, BrokenPipeError, EOFError):
        if context is not None and writer is None:  # closed during the handshake
            return TLSError(
                f"{doing} failed: the broker at {server} closed the connection during the "
                "TLS handshake: is this listener TLS (SSL or SASL_SSL)? A plaintext "
                "listener needs no TLS in broker_credentials",
                retriable=False,
            )
        return None
    except OSError:  # refused, unreachable, timed out: not a question of credentials
        return None
    finally:
        if writer is not None:
            writer.close()
    return None
