"""Tables: durable keyed state kept in changelog topics (see :mod:`.table`)."""

from .stores import MemoryStore, StoreT, store_from_url
from .table import Table, TableChange

__all__ = ("MemoryStore", "StoreT", "Table", "TableChange", "store_from_url")
