"""``kafka://host:port[,host:port]``: the transport factory of the Kafka adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.offset import OffsetRequest

from rxstreams.errors import BrokerUnavailableError, ConfigurationError
from rxstreams.logging import get_logger
from rxstreams.messages import TopicSpec
from rxstreams.types import ConsumerConfig, ProducerConfig, ReaderConfig, RebalanceListenerT

from ._config import bootstrap_servers, security_kwargs
from ._consumer import KafkaConsumer
from ._errors import KAFKA_ERRORS, translate, translate_errors
from ._handshake import explained
from ._producer import KafkaProducer
from ._reader import KafkaReader
from ._redact import install as redact_sasl_in_logs

if TYPE_CHECKING:
    from rxstreams.credentials import Credentials
    from rxstreams.types import ConsumerT, ProducerT, ReaderT, TransportT

__all__ = ("KafkaTransport",)

log = get_logger(__name__)

#: how long create_topics waits for new topics to be ready (see _until_visible)
_VISIBLE_WITHIN = 10.0


class KafkaTransport:
    """Opens consumers, readers and producers on a Kafka cluster (entry point ``kafka``).

    ``kafka://h1:9092,h2:9092`` lists the bootstrap servers (the port defaults to 9092).
    Nothing connects until something is started; topics are declared and described over
    an admin connection opened for the operation. :meth:`close` stops the consumers,
    readers and producers the transport opened.

    ``credentials`` (the app's ``broker_credentials``) secure every connection it opens:
    TLS, SASL, or both (:func:`~rxstreams_kafka._config.security_kwargs`). A client that
    cannot start because of them raises :class:`~rxstreams.errors.AuthenticationError`
    or :class:`~rxstreams.errors.TLSError`, not a retriable "broker unavailable". With
    SASL credentials, aiokafka's debug lines of the SASL exchange are redacted
    (:mod:`~rxstreams_kafka._redact`).
    """

    def __init__(self, url: str, *, credentials: Credentials | None = None) -> None:
        self._servers = bootstrap_servers(url)
        self._credentials = credentials
        self._security = security_kwargs(credentials)
        if "sasl_mechanism" in self._security:
            redact_sasl_in_logs()  # aiokafka logs the SASL bytes at DEBUG
        self._url = url
        # strong references: a client dropped without stop() still holds connections,
        # and close() must find it (stopped ones are pruned as new ones are created)
        self._consumers: list[KafkaConsumer] = []
        self._producers: list[KafkaProducer] = []
        self._readers: list[KafkaReader] = []
        self._closed = False

    def __repr__(self) -> str:
        secured = "" if self._credentials is None else f" {self._credentials!r}"
        return f"<KafkaTransport {self._url!r}{secured}>"

    @property
    def credentials(self) -> Credentials | None:
        """The credentials every connection is opened with (None: plaintext, anonymous)."""
        return self._credentials

    @property
    def url(self) -> str:
        """The URL this transport was opened with."""
        return self._url

    @property
    def bootstrap_servers(self) -> list[str]:
        """The ``host:port`` addresses parsed from the URL."""
        return list(self._servers)

    def create_consumer(
        self, topics: Collection[str], listener: RebalanceListenerT, config: ConsumerConfig
    ) -> KafkaConsumer:
        """A consumer in group ``config.group_id`` subscribed to ``topics`` (not started)."""
        self._check_open()
        consumer = KafkaConsumer(self._servers, topics, listener, config, security=self._security)
        self._consumers = [c for c in self._consumers if not c.stopped]
        self._consumers.append(consumer)
        return consumer

    def create_producer(self, config: ProducerConfig) -> KafkaProducer:
        """A producer to this cluster (not started)."""
        self._check_open()
        producer = KafkaProducer(self._servers, config, security=self._security)
        self._producers = [p for p in self._producers if not p.stopped]
        self._producers.append(producer)
        return producer

    def create_reader(self, config: ReaderConfig) -> KafkaReader:
        """A reader of this cluster in no consumer group (not started)."""
        self._check_open()
        reader = KafkaReader(self._servers, config, security=self._security)
        self._readers = [r for r in self._readers if not r.stopped]
        self._readers.append(reader)
        return reader

    async def create_topics(self, topics: Sequence[TopicSpec]) -> None:
        """Create the topics that do not exist yet; existing ones are left as they are.

        ``retention_ms`` becomes the topic's ``retention.ms``, ``compacting`` its
        ``cleanup.policy=compact``; ``internal`` means nothing to Kafka. Returns once the
        new topics are ready to use (see :func:`_until_visible`).
        """
        self._check_open()
        specs: dict[str, TopicSpec] = {}
        for spec in topics:
            if spec.partitions < 1 or spec.replicas < 1:
                raise ConfigurationError(
                    f"topic {spec.name!r} needs at least 1 partition and 1 replica, "
                    f"got {spec.partitions} and {spec.replicas}"
                )
            specs.setdefault(spec.name, spec)  # one request may not name a topic twice
        if not specs:
            return
        async with self._admin_client() as admin:
            with translate_errors(f"creating topics {sorted(specs)}"):
                response = await admin.create_topics([_new_topic(s) for s in specs.values()])
            created = []
            for name, code, *message in response.topic_errors:
                error_type = for_code(code)
                if code == 0:
                    created.append(specs[name])
                elif error_type is not TopicAlreadyExistsError:
                    error = error_type(*(m for m in message if m))
                    raise translate(error, f"creating topic {name!r}") from error
            if created:
                await _until_visible(admin, created)
        log.debug("topics_declared", topics=sorted(specs))

    async def partition_count(self, topic: str) -> int | None:
        """How many partitions ``topic`` has, or None if it does not exist.

        Asks for the metadata of every topic: naming the topic could make a broker with
        automatic topic creation create it.
        """
        self._check_open()
        async with self._admin_client() as admin:
            with translate_errors(f"describing topic {topic!r}"):
                described = await admin.describe_topics()
        for found in described:
            if found["topic"] == topic:
                return None if found["error_code"] else len(found["partitions"])
        return None

    async def close(self) -> None:
        """Stop the consumers (leaving their groups), readers and producers opened here."""
        if self._closed:
            return
        self._closed = True
        consumers, self._consumers = self._consumers, []
        producers, self._producers = self._producers, []
        readers, self._readers = self._readers, []
        for consumer in consumers:
            await consumer.stop()
        for reader in readers:
            await reader.stop()
        for producer in producers:
            await producer.stop()

    @asynccontextmanager
    async def _admin_client(self) -> AsyncIterator[Any]:
        """An admin connection for one operation.

        Not kept open between operations: declaring and describing topics is rare (app
        start, new subscriptions), and a transport nobody closes then leaks nothing.
        """
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._servers, client_id="rxstreams-admin", **self._security
        )
        doing = f"connecting to {self._url}"
        try:
            async with explained(self._servers, self._security, doing):
                with translate_errors(doing):
                    await admin.start()
            yield admin
        finally:
            await asyncio.shield(admin.close())

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailableError(
                f"transport {self._url!r} is closed: open a new one", retriable=False
            )


async def _until_visible(admin: Any, specs: Sequence[TopicSpec]) -> None:
    """Wait (bounded) until the topics just created are ready: the metadata shows each
    partition with a leader, and that leader answers ListOffsets for it.

    Kafka's CreateTopics answers once the controller has the topics; the brokers take
    them over a moment later. Until a broker's metadata shows them, a metadata request
    (a ``partition_count()`` right after, a consumer subscribing) does not see them; until
    it leads their partitions, produce and fetch requests get NOT_LEADER_OR_FOLLOWER
    (aiokafka retries, and logs a warning). Past the bound they are left to get ready on
    their own, with a warning.
    """
    wanted = {spec.name: spec.partitions for spec in specs}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _VISIBLE_WITHIN
    while True:
        with translate_errors(f"describing topics {sorted(wanted)}"):
            described = await admin.describe_topics(sorted(wanted))
        by_leader: dict[int, dict[str, list[int]]] = {}
        for found in described:
            partitions = found["partitions"]
            if (
                not found["error_code"]
                and len(partitions) == wanted.get(found["topic"])
                and all(p["leader"] >= 0 for p in partitions)
            ):
                for p in partitions:
                    topics = by_leader.setdefault(p["leader"], {})
                    topics.setdefault(found["topic"], []).append(p["partition"])
        waiting: set[str] = set()
        for leader, topics in by_leader.items():
            if not await _leads(admin, leader, topics):
                waiting.update(topics)  # a topic is ready once all its leaders answer
        for topics in by_leader.values():
            for topic in topics.keys() - waiting:
                wanted.pop(topic, None)
        if not wanted:
            return
        if loop.time() > deadline:
            log.warning("topics_not_ready_yet", topics=sorted(wanted), waited=_VISIBLE_WITHIN)
            return
        await asyncio.sleep(0.02)


async def _leads(admin: Any, leader: int, topics: dict[str, list[int]]) -> bool:
    """Whether broker ``leader`` answers ListOffsets (LATEST) for all these partitions
    (not yet, if it cannot be reached right now: the caller asks again, within its bound)."""
    request = OffsetRequest(-1, 0, [(t, [(p, -1) for p in ps]) for t, ps in topics.items()])
    try:
        response = await admin._client.send(leader, request)
    except KAFKA_ERRORS:
        return False
    return all(part[1] == 0 for _topic, parts in response.topics for part in parts)


def _new_topic(spec: TopicSpec) -> Any:
    configs: dict[str, str] = {}
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    if spec.compacting:
        configs["cleanup.policy"] = "compact"
    return NewTopic(spec.name, spec.partitions, spec.replicas, topic_configs=configs)


if TYPE_CHECKING:  # the classes satisfy the core's Protocols

    def _conforms(
        transport: KafkaTransport,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        reader: KafkaReader,
    ) -> tuple[TransportT, ConsumerT, ProducerT, ReaderT]:
        return transport, consumer, producer, reader
