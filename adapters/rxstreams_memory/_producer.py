"""A producer on the memory broker, implementing :class:`rxstreams.types.ProducerT`."""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import TYPE_CHECKING

from rxstreams.errors import BrokerUnavailableError, UnknownTopicError
from rxstreams.logging import get_logger
from rxstreams.messages import Headers, RecordMetadata
from rxstreams.types import ProducerConfig

if TYPE_CHECKING:
    from ._broker import MemoryBroker

__all__ = ("MemoryProducer",)

log = get_logger(__name__)

_new_metadata = tuple.__new__  # RecordMetadata(...) without the generated __new__'s overhead


class MemoryProducer:
    """Appends records to the broker's logs at once: nothing is batched or queued.

    Keyed records with no partition go to ``zlib.crc32(key) % partitions``; unkeyed ones
    go round-robin. A topic that does not exist is created with the broker's
    ``default_partitions`` (like Kafka's ``auto.create.topics.enable``). The producer is
    usable as soon as it is created; :meth:`start` is accepted for the protocol's sake.

    The producer settings are accepted (and validated, by :class:`ProducerConfig`) but
    have nothing to tune here: a record is in the log when :meth:`send` returns, so every
    ``acks`` is satisfied; nothing is retried, so nothing is written twice, as with an
    idempotent producer; nothing is batched, compressed or sent over a network.
    """

    def __init__(self, broker: MemoryBroker, config: ProducerConfig) -> None:
        self._broker = broker
        self._config = config
        self._topics = broker._topics  # name -> Topic, read on every send
        self._round_robin: dict[str, int] = {}
        self._stopped = False
        self._log = log.bind(client_id=config.client_id)

    @property
    def config(self) -> ProducerConfig:
        """The configuration this producer was created with."""
        return self._config

    async def start(self) -> None:
        """Nothing to connect to; raises if the producer was stopped."""
        self._check_open()

    async def stop(self) -> None:
        """Close the producer: every later send raises :class:`BrokerUnavailableError`."""
        if not self._stopped:
            self._stopped = True
            self._log.debug("producer_stopped")

    async def flush(self) -> None:
        """Return at once: every record sent is already on the broker."""

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Append a record; the returned future is already resolved with where it landed."""
        metadata = self.send_soon(
            topic,
            value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(metadata)
        return future

    def send_soon(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> RecordMetadata:
        """Append a record now, synchronously (no loop needed), and say where it landed.

        The fast way to pre-produce many records in benchmarks, demos and notebooks.
        Raises :class:`UnknownTopicError` for a partition the topic does not have, and
        :class:`BrokerUnavailableError` after :meth:`stop`.
        """
        if self._stopped:
            self._check_open()
        found = self._topics.get(topic)
        logs = (found if found is not None else self._broker._auto_create(topic)).logs
        if partition is None:
            if key is None:
                partition = self._round_robin.get(topic, 0) % len(logs)
                self._round_robin[topic] = partition + 1
            else:
                partition = zlib.crc32(key) % len(logs)
        elif not 0 <= partition < len(logs):
            raise UnknownTopicError(
                f"topic {topic!r} has {len(logs)} partition(s) (0 to {len(logs) - 1}): "
                f"partition {partition} does not exist"
            )
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        if headers is None:
            headers = ()
        elif type(headers) is not tuple:
            headers = tuple(headers)
        offset = logs[partition].append(key, value, timestamp_ms, headers)
        return _new_metadata(RecordMetadata, (topic, partition, offset, timestamp_ms))

    def _check_open(self) -> None:
        if self._stopped:
            raise BrokerUnavailableError(
                f"producer {self._config.client_id!r} is stopped: create a new one to send",
                retriable=False,
            )
