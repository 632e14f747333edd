"""From rxstreams' URLs and frozen configs to aiokafka's keyword arguments, in one place."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from aiokafka import codec

from rxstreams.credentials import Credentials, SASLCredentials
from rxstreams.errors import ConfigurationError
from rxstreams.types import ConsumerConfig, ProducerConfig, ReaderConfig

__all__ = (
    "DEFAULT_PORT",
    "bootstrap_servers",
    "consumer_kwargs",
    "producer_kwargs",
    "reader_kwargs",
    "security_kwargs",
)

DEFAULT_PORT = 9092
_USAGE = "use 'kafka://host:port' or 'kafka://host1:port1,host2:port2'"
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def bootstrap_servers(url: str) -> list[str]:
    """The ``host:port`` list of a ``kafka://`` URL; ConfigurationError if it is malformed.

    A host without a port gets Kafka's default port 9092.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"broker URL must be a string, got {url!r}; {_USAGE}")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        url = f"{parts.scheme}://...@{parts.netloc.rpartition('@')[2]}"  # not shown again
    if parts.scheme != "kafka":
        raise ConfigurationError(
            f"the kafka transport cannot open {url!r}: its scheme is "
            f"{parts.scheme or 'missing'!r}, not 'kafka'; {_USAGE}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"unexpected path, query or fragment in {url!r}; {_USAGE}")
    if "@" in parts.netloc:
        # the text before "@" may be a password: never repeat it
        hosts = parts.netloc.rpartition("@")[2]
        raise ConfigurationError(
            f"credentials in the broker URL ('kafka://...@{hosts}') are not supported: give "
            "them as the app's broker_credentials= (rxstreams.SASLCredentials(username=..., "
            "password=..., mechanism=...), or an ssl.SSLContext / rxstreams.SSLCredentials "
            f"for TLS); {_USAGE}"
        )
    if not parts.netloc:
        raise ConfigurationError(f"no broker address in {url!r}; {_USAGE}")
    servers = []
    for entry in parts.netloc.split(","):
        host, sep, port = entry.rpartition(":") if not entry.endswith("]") else (entry, "", "")
        if not sep:
            host, port = entry, str(DEFAULT_PORT)
        if not _HOST.fullmatch(host):
            raise ConfigurationError(f"bad host {host!r} in {url!r}; {_USAGE}")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(f"bad port {port!r} for host {host!r} in {url!r}; {_USAGE}")
        servers.append(f"{host}:{int(port)}")
    return servers


def security_kwargs(credentials: Credentials | None) -> dict[str, Any]:
    """The keyword arguments every aiokafka client of the transport gets for
    ``credentials`` (consumers, readers, producers, admin clients): none without them.

    ``security_protocol`` is the credentials' (``SSL``, ``SASL_SSL``, ``SASL_PLAINTEXT``),
    with their TLS context; SASL adds the mechanism, username and password (aiokafka
    calls them ``sasl_plain_*`` for SCRAM too).
    """
    if credentials is None:
        return {}
    kwargs: dict[str, Any] = {"security_protocol": credentials.protocol}
    if credentials.ssl_context is not None:
        kwargs["ssl_context"] = credentials.ssl_context
    if isinstance(credentials, SASLCredentials):
        kwargs["sasl_mechanism"] = credentials.mechanism
        kwargs["sasl_plain_username"] = credentials.username
        kwargs["sasl_plain_password"] = credentials.password
    return kwargs


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def consumer_kwargs(config: ConsumerConfig) -> dict[str, Any]:
    """``AIOKafkaConsumer`` keyword arguments for ``config`` (bootstrap servers aside).

    Commits are manual only. ``rebalance_timeout`` is also aiokafka's
    ``max_poll_interval_ms`` (as in Kafka's Java client, where they are one setting).
    The heartbeat is kept at most a third of the session timeout, so a short session
    timeout alone does not make the member miss its own heartbeats.
    """
    return {
        "group_id": config.group_id,
        "client_id": config.client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": config.auto_offset_reset,
        "session_timeout_ms": _ms(config.session_timeout),
        "heartbeat_interval_ms": max(
            1, _ms(min(config.heartbeat_interval, config.session_timeout / 3))
        ),
        "rebalance_timeout_ms": _ms(config.rebalance_timeout),
        "max_poll_interval_ms": _ms(config.rebalance_timeout),
        "max_poll_records": config.max_poll_records,
        "fetch_max_wait_ms": _ms(config.fetch_max_wait),
        "isolation_level": config.isolation_level,
    }


def reader_kwargs(config: ReaderConfig) -> dict[str, Any]:
    """``AIOKafkaConsumer`` keyword arguments of a reader in no group (servers aside).

    No group, so nothing is committed; a position outside the log moves to its start.
    """
    return {
        "group_id": None,
        "client_id": config.client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": config.max_poll_records,
        "fetch_max_wait_ms": _ms(config.fetch_max_wait),
        "request_timeout_ms": _ms(config.request_timeout),
        "isolation_level": config.isolation_level,
    }


def producer_kwargs(config: ProducerConfig) -> dict[str, Any]:
    """``AIOKafkaProducer`` keyword arguments for ``config`` (bootstrap servers aside).

    Idempotence is asked for when ``config.idempotence`` is True, or None with
    ``acks="all"`` (with acks 0 or 1, None means off, as in Kafka's Java client); what
    happens when the broker refuses it is :meth:`KafkaProducer.start`'s business.
    Raises :class:`ConfigurationError` for a compression whose library is not installed.
    """
    if (
        config.compression not in (None, "gzip")
        and not getattr(codec, f"has_{config.compression}")()
    ):
        raise ConfigurationError(
            f"setting producer_compression={config.compression!r} needs the 'cramjam' "
            f"package, which is not installed: pip install cramjam (or pip install "
            f"'aiokafka[{config.compression}]'), or choose 'gzip' or None"
        )
    transactional = config.transactional_id is not None
    kwargs: dict[str, Any] = {
        "client_id": config.client_id,
        "acks": config.acks,
        "enable_idempotence": transactional
        or config.idempotence is True
        or (config.idempotence is None and config.acks == "all"),
        "linger_ms": _ms(config.linger),
        "max_batch_size": config.max_batch_size,
        "compression_type": config.compression,
        "request_timeout_ms": _ms(config.request_timeout),
        "max_request_size": config.max_request_size,
    }
    if transactional:
        kwargs["transactional_id"] = config.transactional_id
        kwargs["transaction_timeout_ms"] = _ms(config.transaction_timeout)
    return kwargs
