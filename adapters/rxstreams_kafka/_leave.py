"""Leaving a consumer group that aiokafka would not leave: members of generation 0.

aiokafka's ``stop()`` sends LeaveGroup only when the member's generation is above 0, since
Kafka numbers a group's generations from 1. Some Kafka-protocol brokers (Tansu) number
them from 0: a member of a new group's first generation then stays in the group after
``stop()`` until its session times out, and the next member waits for that (``session
timeout`` plus a rejoin) before it gets any partition. :func:`leave_group` sends the
LeaveGroup itself, best effort, as aiokafka does for every later generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.client import CoordinationType
from aiokafka.protocol.group import LeaveGroupRequest

from rxstreams.logging import get_logger

from ._errors import KAFKA_ERRORS

__all__ = ("leave_group", "membership")

log = get_logger(__name__)

_GIVE_UP: tuple[type[BaseException], ...] = (*KAFKA_ERRORS, TimeoutError)


def membership(consumer: Any) -> tuple[int, str] | None:
    """The ``(generation, member_id)`` of a started aiokafka consumer, if it has joined."""
    coordinator = getattr(consumer, "_coordinator", None)
    generation = getattr(coordinator, "generation", None)
    member_id = getattr(coordinator, "member_id", None)
    if isinstance(generation, int) and isinstance(member_id, str) and member_id:
        return generation, member_id
    return None


async def leave_group(
    bootstrap_servers: Sequence[str], group_id: str, member_id: str, *, timeout: float
) -> None:
    """Send LeaveGroup for ``member_id`` on a connection of its own; log, never raise."""
    client = AIOKafkaClient(bootstrap_servers=list(bootstrap_servers), client_id=member_id)
    try:
        async with asyncio.timeout(timeout):
            await client.bootstrap()
            node = await client.coordinator_lookup(CoordinationType.GROUP, group_id)
            await client.send(node, LeaveGroupRequest(group_id, member_id))
        log.debug("group_left", group_id=group_id, member_id=member_id)
    except _GIVE_UP as exc:
        log.warning("group_leave_failed", group_id=group_id, member_id=member_id, error=repr(exc))
    finally:
        await client.close()
