"""When a broker refuses an idempotent producer its id: which aiokafka errors say so, the
reason in words, and aiokafka's own ERROR line about it kept out of the logs (the producer
reports it once, saying what to do)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiokafka import errors as kafka_errors

__all__ = ("REFUSED", "quiet_refusal", "refusal")

#: what aiokafka's ``start()`` raises when an idempotent producer gets no producer id:
#: Tansu answers InitProducerId v0 (the version aiokafka sends) with UNKNOWN_SERVER_ERROR;
#: a broker older than Kafka 0.11 lacks the request; one older than Kafka 2.8 with ACLs
#: refuses it without the IdempotentWrite permission on the cluster
REFUSED: tuple[type[BaseException], ...] = (
    kafka_errors.UnknownError,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.IncompatibleBrokerVersion,
    kafka_errors.ClusterAuthorizationFailedError,
)

_AIOKAFKA_LINE = "Unexpected error during InitProducerIdRequest"
#: the tasks inside :func:`quiet_refusal`
_quiet_tasks: set[asyncio.Task[Any]] = set()


def refusal(exc: BaseException) -> str:
    """Why there is no idempotence, for a message: ``the broker refused ... (UnknownError,
    error code -1)``."""
    errno = getattr(exc, "errno", None)
    detail = f"error code {errno}" if isinstance(errno, int) else str(exc)
    detail = f"{type(exc).__name__}, {detail}" if detail else type(exc).__name__
    return f"the broker refused to give it a producer id (InitProducerId failed: {detail})"


class _QuietFilter(logging.Filter):
    """Drops aiokafka's line about a refused InitProducerId in a task inside quiet_refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _quiet_tasks or not str(record.msg).startswith(_AIOKAFKA_LINE):
            return True
        try:
            return asyncio.current_task() not in _quiet_tasks
        except RuntimeError:  # logged from a thread without a running loop
            return True


_filter = _QuietFilter()


@contextmanager
def quiet_refusal() -> Iterator[None]:
    """Within: aiokafka's ERROR line about a refused producer id, logged by this task
    (where aiokafka's ``start()`` asks for it), is dropped; other tasks' lines are not."""
    task = asyncio.current_task()
    if task is None:
        yield
        return
    logging.getLogger("aiokafka.producer.sender").addFilter(_filter)  # no-op the 2nd time
    _quiet_tasks.add(task)
    try:
        yield
    finally:
        _quiet_tasks.discard(task)
