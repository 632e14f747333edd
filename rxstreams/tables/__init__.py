"""Tables: durable keyed state kept in changelog topics (see :mod:`.table`)."""

from .stores import MemoryStore, StoreT, store_from_url
from .table import Table, TableChange
from .windowed import WindowedTable, WindowSet
from .windows import HoppingWindow, TumblingWindow

__all__ = (
    "HoppingWindow",
    "MemoryStore",
    "StoreT",
    "Table",
    "TableChange",
    "TumblingWindow",
    "WindowSet",
    "WindowedTable",
    "store_from_url",
)
