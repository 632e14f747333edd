"""A topic: a name, its partition logs, and its retention settings."""

from __future__ import annotations

import re

from rxstreams.errors import ConfigurationError

from ._log import PartitionLog

__all__ = ("Topic", "check_topic_name")

_LEGAL_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_topic_name(name: str) -> None:
    """Raise :class:`ConfigurationError` unless ``name`` is a legal Kafka topic name."""
    if not isinstance(name, str) or not _LEGAL_NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigurationError(
            f"invalid topic name {name!r}: use 1 to 249 characters among "
            "ASCII letters, digits, '.', '_' and '-' (and not '.' or '..')"
        )


class Topic:
    """The partitions of one topic; partitions can be added, never removed."""

    __slots__ = ("compacting", "logs", "max_records", "name", "retention_ms")

    def __init__(
        self,
        name: str,
        partitions: int,
        *,
        max_records: int | None = None,
        retention_ms: int | None = None,
        compacting: bool = False,
    ) -> None:
        self.name = name
        self.max_records = max_records
        self.retention_ms = retention_ms
        #: Recorded for introspection; the memory broker never compacts (it keeps every record).
        self.compacting = compacting
        self.logs: list[PartitionLog] = []
        self.grow(partitions)

    def grow(self, partitions: int) -> None:
        """Add partitions until there are ``partitions`` of them."""
        for number in range(len(self.logs), partitions):
            self.logs.append(
                PartitionLog(
                    self.name,
                    number,
                    max_records=self.max_records,
                    retention_ms=self.retention_ms,
                )
            )
