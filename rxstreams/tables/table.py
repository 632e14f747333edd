"""Table: durable keyed state, partitioned like the topics that write it (Faust's model).

A table is a dict per partition. An agent writes it while it processes an event, and the
write lands in the table partition of that event (``event.message.partition``), so each
key written from one topic partition is owned by the worker that owns that partition.
Every write is also a record of the table's changelog topic (compacted, one partition per
table partition), sent before the event's offset is committed; a worker that is given a
partition recovers the table partition from the changelog before any event of it is
delivered. Values, not deltas, are logged, so replaying a changelog twice changes
nothing. ::

    topic partition p ──events──► agent ──t[k] = v──► table partition p (store)
                                                          │ changelog record (k, v)
                                                          ▼ (before p's offset commits)
                                     <app>-<table>-changelog partition p
                                                          │ replayed on assignment
                                                          ▼
                                          table partition p on its next owner
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, KeysView
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

from .._display import html_table, short
from ..errors import AppStateError, ConfigurationError, MissingKeyError
from ..events import _current_item
from ..streams import Stream
from ..types import CodecT
from .stores import StoreT, store_from_url
from .windowed import LateHandler, WindowClose, WindowedTable
from .windows import HoppingWindow

if TYPE_CHECKING:
    from ..app import App
    from ..channels import Channel
    from ..topics import Topic

__all__ = ("Table", "TableChange")

K = TypeVar("K")
V = TypeVar("V")

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
#: a pending changelog record that deletes its key (a tombstone)
DELETED: Any = object()


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else value


class TableChange(NamedTuple):
    """One change of a table, as :meth:`Table.changes` streams it (``old``/``new`` are
    None for a key that was missing / deleted)."""

    key: Any
    old: Any
    new: Any


class Table(Generic[K, V]):
    """A table of the app: create it with :meth:`App.Table`.

    Dict-like: ``t[k]`` (the default when missing, if the table has one), ``t[k] = v``,
    ``t[k] += 1``, ``del t[k]``, ``k in t``, ``len(t)``, ``get``, ``keys``, ``values``,
    ``items``; reads and iteration cover the partitions this worker owns. Writes happen
    while an agent processes an event (they land in that event's partition).
    """

    #: what kind of table, for messages and views
    kind = "Table"

    def __init__(
        self,
        app: App,
        name: str,
        *,
        default: Callable[[], V] | None = None,
        key_type: Any = None,
        value_type: Any = None,
        partitions: int | None = None,
        changelog_topic: str | None = None,
        store: str | None = None,
        help: str | None = None,
        key_serializer: str | CodecT | None = None,
        value_serializer: str | CodecT | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"table name {name!r} must be non-empty letters, digits, '.', '_' or '-'"
            )
        if default is not None and not callable(default):
            raise ConfigurationError(
                f"default= of table {name!r} must be callable (int, list, lambda: 0), "
                f"not {default!r}"
            )
        if partitions is not None and (type(partitions) is not int or partitions < 1):
            raise ConfigurationError(
                f"partitions of table {name!r} must be >= 1, not {partitions!r}"
            )
        self.app = app
        self.name = name
        self.default = default
        self.help = help or ""
        self.changelog: Topic[K, V] = app.topic(
            changelog_topic or f"{app.id}-{name}-changelog",
            partitions=partitions or app.conf.topic_partitions,
            key_type=key_type,
            value_type=value_type,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
            internal=True,
            compacting=True,
        )
        self.store_url = store or app.conf.store
        self.store: StoreT = store_from_url(self.store_url, self)
        #: the partitions this worker owns and has recovered
        self.active: set[int] = set()
        #: changelog records not sent yet: (partition, key) -> value (or DELETED)
        self.pending: dict[tuple[int, Any], Any] = {}
        #: topic name -> partition count, for topics already checked to write this table
        self._writers: dict[str, int] = {}
        self._changes: Channel[Any, TableChange] | None = None
        #: called when pending grows (set by the worker's table manager)
        self.on_pending: Callable[[Table[Any, Any]], None] | None = None
        #: called with the partition numbers recovered / released (windowed tables)
        self.on_recovered: list[Callable[[set[int]], None]] = []
        self.on_released: list[Callable[[set[int]], None]] = []

    # -- what the store and the manager read -------------------------------------------------

    @property
    def app_id(self) -> str:
        return self.app.id

    @property
    def partitions(self) -> int:
        """The table's (and its changelog's) partition count."""
        return self.changelog.spec().partitions

    @property
    def key_codec(self) -> CodecT:
        return self.changelog.key_codec

    @property
    def value_codec(self) -> CodecT:
        return self.changelog.value_codec

    # -- writing -----------------------------------------------------------------------------

    def _write_partition(self, doing: str) -> int:
        """The partition of the event the running agent processes (checked)."""
        item = _current_item()
        if type(item) is list:
            item = item[-1] if item else None
        message = getattr(item, "message", None)
        if message is None:
            raise AppStateError(
                f"{doing} table {self.name!r} outside an agent processing an event: a "
                "write lands in the partition of the event being processed (send the "
                "change to a topic an agent reads, and write the table there)"
            )
        topic = message.topic
        if topic not in self._writers:
            self._check_copartitioned(topic)
        partition: int = message.partition
        if partition not in self.active:
            raise AppStateError(
                f"{doing} table {self.name!r} partition {partition}: this worker does not "
                "own it (its topic partition was revoked while the event was processed)"
            )
        return partition

    def _check_copartitioned(self, topic: str) -> None:
        declared = self.app.topics.get(topic)
        count = None if declared is None else declared.spec().partitions
        if count is not None and count != self.partitions:
            raise ConfigurationError(
                f"table {self.name!r} has {self.partitions} partitions, but an agent writes "
                f"it from topic {topic!r}, which has {count}: a table partition takes the "
                "updates of the topic partition with its number, so both need the same "
                f"count. Declare the table with partitions={count}, or group_by() the "
                "stream through a topic with the table's count first"
            )
        self._writers[topic] = count or self.partitions

    def __setitem__(self, key: K, value: V) -> None:
        partition = self._write_partition("writing")
        data = self.store.partition(partition)
        changes = self._changes
        if changes is not None:
            old = data.get(key)
            data[key] = value
            self._changed(key, old, value)
        else:
            data[key] = value
        self.pending[(partition, key)] = value
        if self.on_pending is not None:
            self.on_pending(self)

    def __delitem__(self, key: K) -> None:
        partition = self._write_partition("deleting from")
        data = self.store.partition(partition)
        if key not in data:
            raise MissingKeyError(key)
        old = data.pop(key)
        self.pending[(partition, key)] = DELETED
        if self._changes is not None:
            self._changed(key, old, None)
        if self.on_pending is not None:
            self.on_pending(self)

    def _delete_in(self, partition: int, key: Any) -> None:
        """Delete ``key`` from ``partition`` outside an event (a window that expired on
        the wall clock): a tombstone in the changelog, as ``del`` writes."""
        data = self.store.partition(partition)
        if key not in data:
            return
        old = data.pop(key)
        self.pending[(partition, key)] = DELETED
        if self._changes is not None:
            self._changed(key, old, None)
        if self.on_pending is not None:
            self.on_pending(self)

    def pop(self, key: K, *default: Any) -> Any:
        """Remove ``key`` and return its value (or ``default``; KeyError without one)."""
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise MissingKeyError(key)

    def setdefault(self, key: K, default: V) -> V:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def update(self, *others: Any, **kwargs: V) -> None:
        for other in others:
            for key, value in other.items() if hasattr(other, "items") else other:
                self[key] = value
        for key, value in kwargs.items():
            self[cast(K, key)] = value

    def take_pending(self) -> dict[tuple[int, Any], Any]:
        """The changelog records to send, and forget them (the manager sends them)."""
        pending, self.pending = self.pending, {}
        return pending

    # -- reading -----------------------------------------------------------------------------

    def _read_partitions(self) -> Iterator[dict[Any, Any] | Any]:
        item = _current_item()
        if type(item) is list:
            item = item[-1] if item else None
        message = getattr(item, "message", None)
        if message is not None and message.partition in self.active:
            yield self.store.partition(message.partition)
            return
        for partition in sorted(self.active):
            yield self.store.partition(partition)

    def __getitem__(self, key: K) -> V:
        for data in self._read_partitions():
            if key in data:
                return cast(V, data[key])
        if self.default is not None:
            return self.default()
        raise MissingKeyError(key)

    def get(self, key: K, default: Any = None) -> Any:
        for data in self._read_partitions():
            if key in data:
                return data[key]
        return default

    def __contains__(self, key: object) -> bool:
        return any(key in data for data in self._read_partitions())

    def _all(self) -> Iterator[dict[Any, Any] | Any]:
        for partition in sorted(self.active):
            yield self.store.partition(partition)

    def __len__(self) -> int:
        return sum(len(data) for data in self._all())

    def __iter__(self) -> Iterator[K]:
        for data in self._all():
            yield from list(data)

    def keys(self) -> KeysView[K]:
        return dict.fromkeys(self).keys()

    def values(self) -> list[V]:
        return [v for data in self._all() for v in list(data.values())]

    def items(self) -> list[tuple[K, V]]:
        return [(k, v) for data in self._all() for k, v in list(data.items())]

    def as_dict(self) -> dict[K, V]:
        """A copy of what this worker holds (the partitions it owns)."""
        return dict(self.items())

    # -- changes -----------------------------------------------------------------------------

    def changes(self) -> Stream[TableChange]:
        """A hot stream of the table's changes on this worker, as :class:`TableChange`
        ``(key, old, new)``: every write and delete by an agent from now on (not what
        recovery replays). Use it like any Stream: operators, ``pipe()``, an agent."""
        if self._changes is None:
            self._changes = self.app.channel(name=f"{self.name}-changes")
        return self._changes.stream()

    def _changed(self, key: Any, old: Any, new: Any) -> None:
        channel = self._changes
        assert channel is not None
        source = channel._source()
        if source.ports:  # hot: nobody listening, nothing kept
            channel.deliver_now(key, TableChange(key, old, new))

    # -- windows -----------------------------------------------------------------------------

    def tumbling(
        self,
        size: float | timedelta,
        expires: float | timedelta | None = None,
        *,
        grace: float | timedelta = 0.0,
        on_window_close: WindowClose | None = None,
        on_late: LateHandler | None = None,
        idle: float | timedelta | None = None,
    ) -> WindowedTable[K, V]:
        """This table, as values per key and back-to-back window of ``size`` seconds,
        on event time (see :mod:`rxstreams.tables.windowed`)."""
        return self.hopping(
            size,
            size,
            expires,
            grace=grace,
            on_window_close=on_window_close,
            on_late=on_late,
            idle=idle,
        )

    def hopping(
        self,
        size: float | timedelta,
        step: float | timedelta,
        expires: float | timedelta | None = None,
        *,
        grace: float | timedelta = 0.0,
        on_window_close: WindowClose | None = None,
        on_late: LateHandler | None = None,
        idle: float | timedelta | None = None,
    ) -> WindowedTable[K, V]:
        """This table, as values per key and window of ``size`` seconds starting every
        ``step`` seconds, on event time (see :mod:`rxstreams.tables.windowed`)."""
        return WindowedTable(
            self,
            HoppingWindow(_seconds(size), _seconds(step)),
            expires=None if expires is None else _seconds(expires),
            grace=_seconds(grace),
            on_window_close=on_window_close,
            on_late=on_late,
            idle=None if idle is None else _seconds(idle),
        )

    # -- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"<{self.kind} {self.name} partitions={self.partitions} "
            f"active={sorted(self.active)} keys={len(self)}>"
        )

    def _repr_html_(self) -> str:
        top = sorted(self.items(), key=lambda kv: repr(kv[0]))[:10]
        caption = (
            f"{self.kind} {self.name}: {len(self)} keys in partitions {sorted(self.active)} "
            f"of {self.partitions}; changelog {self.changelog.name}, store {self.store_url}"
        )
        return html_table(["key", "value"], [[short(k), short(v)] for k, v in top], caption=caption)
