"""Stores: where a table keeps its partitions, chosen by URL like brokers.

A store holds, per table partition, the keys and values (decoded) and the offset of the
last changelog record applied to it. ``memory://`` (the default) keeps plain dicts in the
process: a restarted worker recovers every partition from its changelog in full. Other
stores are found through the ``rxstreams.stores`` entry points by URL scheme (the
``rocksdb://path`` store of the ``rxstreams_rocksdb`` adapter keeps its data, and the
applied offsets, on disk, so a restarted worker replays only the changelog's tail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from importlib.metadata import entry_points
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ..types import CodecT

__all__ = ("ENTRY_POINT_GROUP", "MemoryStore", "StoreT", "TableInfo", "store_from_url")

ENTRY_POINT_GROUP = "rxstreams.stores"


class TableInfo(Protocol):
    """What a store is told about the table it holds."""

    @property
    def app_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    @property
    def key_codec(self) -> CodecT: ...

    @property
    def value_codec(self) -> CodecT: ...


class StoreT(Protocol):
    """One table's partitions. Partitions are opened when the worker owns them (or
    follows them as a standby) and dropped from memory when it stops."""

    def open(self) -> None:
        """Check the store can be used for this table (raises ConfigurationError naming
        the problem: another app id, another partition count, a path not writable)."""

    def partition(self, partition: int) -> MutableMapping[Any, Any]:
        """The data of one partition (created empty if new)."""

    def applied(self, partition: int) -> int | None:
        """The offset of the last changelog record applied to a partition, if known."""

    def set_applied(self, partition: int, offset: int) -> None:
        """Remember that every changelog record up to ``offset`` is in the partition."""

    def release(self, partition: int) -> None:
        """The worker no longer owns the partition: free what it holds in memory (a
        durable store keeps its data, to replay only the tail if it comes back)."""

    def wipe(self, partition: int) -> None:
        """Forget the partition entirely (its data is not trusted any more)."""

    def close(self) -> None:
        """Flush and close."""


class MemoryStore:
    """Plain dicts per partition; nothing survives the process (``memory://``)."""

    def __init__(self, table: TableInfo) -> None:
        self.table = table
        self._data: dict[int, dict[Any, Any]] = {}
        self._applied: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"<MemoryStore {self.table.name} partitions={sorted(self._data)}>"

    def open(self) -> None:
        return None

    def partition(self, partition: int) -> dict[Any, Any]:
        data = self._data.get(partition)
        if data is None:
            data = self._data[partition] = {}
        return data

    def partitions(self) -> Iterator[int]:
        return iter(sorted(self._data))

    def applied(self, partition: int) -> int | None:
        return self._applied.get(partition)

    def set_applied(self, partition: int, offset: int) -> None:
        self._applied[partition] = offset

    def release(self, partition: int) -> None:
        self.wipe(partition)

    def wipe(self, partition: int) -> None:
        self._data.pop(partition, None)
        self._applied.pop(partition, None)

    def close(self) -> None:
        self._data.clear()
        self._applied.clear()


def available_stores() -> list[str]:
    """The URL schemes of every installed store, ``memory`` included."""
    return sorted({"memory", *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


def store_from_url(url: str, table: TableInfo) -> StoreT:
    """The store for ``url`` (``memory://``, ``rocksdb://path``...) holding ``table``."""
    scheme = urlsplit(url).scheme
    if not scheme or "://" not in url:
        raise ConfigurationError(
            f"store {url!r} is not a URL; use 'memory://' or e.g. 'rocksdb:///var/lib/app'"
        )
    if scheme == "memory":
        return MemoryStore(table)
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
    if not found:
        raise ConfigurationError(
            f"no store for {scheme}:// (store {url!r}); installed: "
            + ", ".join(f"{s}://" for s in available_stores())
        )
    factory = cast(Callable[[str, TableInfo], StoreT], found[0].load())
    return factory(url, table)
