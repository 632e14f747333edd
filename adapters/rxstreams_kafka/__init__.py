"""The Kafka transport of rxstreams: ``kafka://host:port[,host:port]``, over aiokafka.

The app finds it through the ``rxstreams.transports`` entry point ``kafka``. Every aiokafka
exception is translated into :mod:`rxstreams.errors` here; nothing of aiokafka leaks out
but the consumed records, which have the :class:`rxstreams.types.MessageT` attributes.
"""

from ._config import bootstrap_servers
from ._consumer import KafkaConsumer
from ._producer import KafkaProducer
from ._reader import KafkaReader
from ._transport import KafkaTransport

__all__ = (
    # the factory
    "KafkaTransport",
    # what the transport opens
    "KafkaConsumer",
    "KafkaProducer",
    "KafkaReader",
    # helpers
    "bootstrap_servers",
)
