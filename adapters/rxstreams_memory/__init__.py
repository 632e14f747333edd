"""The embedded in-process broker of rxstreams: ``memory://``.

A real, Kafka-like broker living in the current process — partitioned logs with retention,
consumer groups with eager rebalancing and committed offsets, transactions (fenced
producers, ``read_committed`` readers, offsets committed with a transaction) — used by
tests, notebooks and demos. The app finds it through the ``rxstreams.transports`` entry
point ``memory``.
"""

from ._broker import MemoryBroker
from ._consumer import MemoryConsumer
from ._producer import MemoryProducer
from ._reader import MemoryReader
from ._transport import MemoryTransport

__all__ = (
    # the broker and its factory
    "MemoryBroker",
    "MemoryTransport",
    # what the transport opens
    "MemoryConsumer",
    "MemoryProducer",
    "MemoryReader",
)
