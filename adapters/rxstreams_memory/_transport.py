"""``memory://`` and ``memory://NAME``: the transport factory of the embedded broker."""

from __future__ import annotations

import re
import weakref
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rxstreams.errors import BrokerUnavailableError, ConfigurationError
from rxstreams.messages import TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig, ReaderConfig, RebalanceListenerT

from ._broker import MemoryBroker
from ._consumer import MemoryConsumer
from ._producer import MemoryProducer
from ._reader import MemoryReader

if TYPE_CHECKING:
    from rxstreams.credentials import Credentials
    from rxstreams.types import ConsumerT, ProducerT, ReaderT, TransportT

__all__ = ("MemoryTransport", "broker_name")

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_USAGE = "use 'memory://' (the broker named 'default') or 'memory://NAME'"


def broker_name(url: str) -> str:
    """The registry name a ``memory://`` URL points at; ConfigurationError if malformed."""
    if not isinstance(url, str):
        raise ConfigurationError(f"broker URL must be a string, got {url!r}; {_USAGE}")
    parts = urlsplit(url)
    if parts.scheme != "memory":
        raise ConfigurationError(
            f"the memory transport cannot open {url!r}: its scheme is "
            f"{parts.scheme or 'missing'!r}, not 'memory'; {_USAGE}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"unexpected path, query or fragment in {url!r}; {_USAGE}")
    if not parts.netloc:
        return "default"
    if not _NAME.fullmatch(parts.netloc):
        raise ConfigurationError(
            f"bad broker name {parts.netloc!r} in {url!r}: use letters, digits, '.', '_', '-'"
        )
    return parts.netloc


class MemoryTransport:
    """Opens consumers, readers and producers on a :class:`MemoryBroker` (entry point ``memory``).

    ``memory://`` uses the process-wide broker named ``"default"``, ``memory://NAME`` the
    one named ``NAME`` (see :meth:`MemoryBroker.named`); ``broker=`` wins over the URL.
    :meth:`close` stops the clients it opened; the broker keeps its data. ``credentials``
    (the app's ``broker_credentials``) are accepted and ignored.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        broker: MemoryBroker | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        # credentials (broker_credentials) are accepted and ignored: the embedded broker
        # has no TLS and no users, and the app that runs on Kafka with them runs here too
        name = broker_name(url)
        self._url = url
        self._broker = broker if broker is not None else MemoryBroker.named(name)
        self._consumers: weakref.WeakSet[MemoryConsumer] = weakref.WeakSet()
        self._producers: weakref.WeakSet[MemoryProducer] = weakref.WeakSet()
        self._readers: weakref.WeakSet[MemoryReader] = weakref.WeakSet()
        self._closed = False

    def __repr__(self) -> str:
        return f"<MemoryTransport {self._url!r} {self._broker!r}>"

    @property
    def url(self) -> str:
        """The URL this transport was opened with."""
        return self._url

    @property
    def broker(self) -> MemoryBroker:
        """The broker behind this transport (inspect it in tests and notebooks)."""
        return self._broker

    def create_consumer(
        self, topics: Collection[str], listener: RebalanceListenerT, config: ConsumerConfig
    ) -> MemoryConsumer:
        """A consumer in group ``config.group_id`` subscribed to ``topics`` (not started)."""
        self._check_open()
        consumer = MemoryConsumer(self._broker, topics, listener, config)
        self._consumers.add(consumer)
        return consumer

    def create_producer(self, config: ProducerConfig) -> MemoryProducer:
        """A producer appending to this transport's broker."""
        self._check_open()
        producer = MemoryProducer(self._broker, config)
        self._producers.add(producer)
        return producer

    def create_reader(self, config: ReaderConfig) -> MemoryReader:
        """A reader of this transport's broker outside any group (not started)."""
        self._check_open()
        reader = MemoryReader(self._broker, config)
        self._readers.add(reader)
        return reader

    async def create_topics(self, topics: Sequence[TopicSpec]) -> None:
        """Create the topics that do not exist yet; existing ones are left as they are.

        ``replicas`` and ``internal`` mean nothing here; a compacted topic keeps every
        record (a superset of what Kafka would keep, which consumers must accept anyway).
        """
        self._check_open()
        for spec in topics:
            self._broker.create_topic(
                spec.name,
                spec.partitions,
                retention_ms=spec.retention_ms,
                compacting=spec.compacting,
            )

    async def partition_count(self, topic: str) -> int | None:
        """How many partitions ``topic`` has, or None if it does not exist."""
        self._check_open()
        return self._broker.partition_count(topic)

    async def close(self) -> None:
        """Stop the consumers (leaving their groups), readers and producers opened here."""
        if self._closed:
            return
        self._closed = True
        for consumer in list(self._consumers):
            if consumer._state != "crashed":
                await consumer.stop()
        for reader in list(self._readers):
            await reader.stop()
        for producer in list(self._producers):
            await producer.stop()

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailableError(
                f"transport {self._url!r} is closed: open a new one", retriable=False
            )


if TYPE_CHECKING:  # the classes satisfy the core's Protocols

    def _conforms(
        transport: MemoryTransport,
        consumer: MemoryConsumer,
        producer: MemoryProducer,
        reader: MemoryReader,
    ) -> tuple[TransportT, ConsumerT, ProducerT, ReaderT]:
        return transport, consumer, producer, reader
