"""Topic: a named, partitioned log on the broker, and where streams come from."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._display import esc, html_table, short
from .codecs import codec_for
from .errors import ConfigurationError
from .events import encode_headers
from .faust_names import refuse
from .messages import RecordMetadata, TopicSpec
from .streams import Stream
from .types import CodecT

if TYPE_CHECKING:
    from .app import App

__all__ = ("DECODE_ERROR_POLICIES", "Topic")

DECODE_ERROR_POLICIES = ("raise", "skip", "dead_letter")

K = TypeVar("K")
V = TypeVar("V")


class Topic(Generic[K, V]):
    """A Kafka-style topic of the app's broker. Create it with :meth:`App.topic`."""

    if not TYPE_CHECKING:  # a Faust name rxstreams lacks gets a hint; type checkers see none

        def __getattr__(self, name: str) -> Any:
            refuse(self, name)

    def __init__(
        self,
        app: App,
        name: str,
        *,
        partitions: int | None = None,
        key_type: Any = None,
        value_type: Any = None,
        key_serializer: str | CodecT | None = None,
        value_serializer: str | CodecT | None = None,
        retention: float | None = None,
        internal: bool = False,
        on_decode_error: str | None = None,
        dead_letter_topic: str | None = None,
        compacting: bool = False,
    ) -> None:
        policy = on_decode_error or app.conf.on_decode_error
        if policy not in DECODE_ERROR_POLICIES:
            raise ConfigurationError(
                f"on_decode_error must be one of {DECODE_ERROR_POLICIES}, not {policy!r}"
            )
        self.app = app
        #: what happens to a record that does not decode: raise, skip or dead_letter
        self.on_decode_error = policy
        #: where dead letters go (default ``<topic>-dlq``)
        self.dead_letter_topic = dead_letter_topic or f"{name}-dlq"
        self.name = name
        self.partitions = partitions
        self.key_type = key_type
        self.value_type = value_type
        self.key_codec = codec_for(key_type, key_serializer or app.conf.key_serializer)
        self.value_codec = codec_for(value_type, value_serializer or app.conf.value_serializer)
        self.retention = retention
        self.internal = internal
        #: the broker keeps only the latest record of each key (a table's changelog)
        self.compacting = compacting

    def spec(self) -> TopicSpec:
        """What the app declares on the broker for this topic."""
        return TopicSpec(
            name=self.name,
            partitions=self.partitions or self.app.conf.topic_partitions,
            retention_ms=None if self.retention is None else int(self.retention * 1000),
            internal=self.internal,
            compacting=self.compacting,
        )

    def stream(self) -> Stream[V]:
        """A new Stream of this topic's values (each stream gets every event)."""
        source = self.app.worker.source_for_topic(self)
        return Stream(observable=source.observable, app=self.app, sources=[source])

    async def send(
        self,
        *,
        key: K | None = None,
        value: V | None = None,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue a record; await the returned future for where it landed.

        Everything sent is flushed before the app commits the offsets that led to it.
        """
        return await self.app.worker.producing.send(
            self.spec(),
            None if value is None else self.value_codec.dumps(value),
            key=None if key is None else self.key_codec.dumps(key),
            partition=partition,
            timestamp_ms=None if timestamp is None else int(timestamp * 1000),
            headers=encode_headers(headers),
        )

    def recent(self) -> list[Any]:
        """The last few values the app received from this topic (decoded), newest last."""
        source = self.app.worker.sources.get(self.name)
        if source is None:
            return []
        out: list[Any] = []
        for m in source.recent:
            try:
                out.append(None if m.value is None else self.value_codec.loads(m.value))
            except Exception as exc:  # a record that does not decode: show why
                out.append(f"<undecodable: {exc}>")
        return out

    def __repr__(self) -> str:
        return f"<Topic {self.name} partitions={self.partitions or self.app.conf.topic_partitions}>"

    def _repr_html_(self) -> str:
        parts = self.partitions or self.app.conf.topic_partitions
        rows = [r for r in self.app.status() if r["topic"] == self.name]
        table = (
            html_table(
                ("partition", "end offset", "committed", "lag", "in flight"),
                [
                    (r["partition"], r["end"], r["committed"], r["lag"], r["in_flight"])
                    for r in rows
                ],
            )
            if rows
            else ""
        )
        recent = "".join(f"<li><code>{esc(short(v))}</code></li>" for v in self.recent())
        return (
            f"<p><b>Topic {esc(self.name)}</b> · {parts} partitions · "
            f"{esc(type(self.value_codec).__name__)}</p>{table}"
            + (f"<p>last values:</p><ul>{recent}</ul>" if recent else "")
        )
