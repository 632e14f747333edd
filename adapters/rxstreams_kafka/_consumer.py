"""A Kafka consumer-group member, implementing :class:`rxstreams.types.ConsumerT`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import IllegalStateError

from rxstreams.errors import (
    AppStateError,
    BrokerUnavailableError,
    CommitFailedError,
    ConfigurationError,
)
from rxstreams.logging import get_logger
from rxstreams.messages import GroupMetadata, TopicPartition
from rxstreams.types import ConsumerConfig, MessageT, RebalanceListenerT

from ._config import consumer_kwargs
from ._errors import translate_errors
from ._handshake import explained
from ._stable_offsets import install as install_stable_offsets

__all__ = ("KafkaConsumer",)

log = get_logger(__name__)

_State = Literal["created", "started", "stopped"]
_new_tp = tuple.__new__  # TopicPartition(...) without the generated __new__'s overhead


def _ours(tps: Iterable[Any]) -> frozenset[TopicPartition]:
    return frozenset(_new_tp(TopicPartition, tp) for tp in tps)


def _theirs(tp: TopicPartition) -> Any:
    return _new_tp(KafkaTopicPartition, tp)


class KafkaConsumer:
    """A member of the consumer group ``config.group_id`` over ``AIOKafkaConsumer``.

    :meth:`start` connects and subscribes; the group forms in the background, and the
    partitions arrive through the listener while :meth:`getmany` runs. aiokafka calls the
    listener from its coordination task (``on_partitions_revoked`` before a rebalance, with
    the member still in its generation, so a commit there still counts); the listener sees
    ``assigned``, ``revoked``, ``assigned``, ... strictly alternating, and an exception it
    raises comes out of :meth:`getmany` (once a batch already fetched was returned). The
    protocol is eager: every rebalance revokes everything, and positions restart at the
    group's committed offsets.

    Records are aiokafka's ``ConsumerRecord`` objects as they are: they have every
    :class:`~rxstreams.types.MessageT` attribute (timestamps in milliseconds, headers a
    tuple of ``(str, bytes)`` pairs), so nothing is copied per record.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        topics: Collection[str],
        listener: RebalanceListenerT,
        config: ConsumerConfig,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(topics, str):
            raise ConfigurationError(
                f"topics must be a collection of topic names, not the string {topics!r}"
            )
        for name, value in (
            ("max_poll_records", config.max_poll_records),
            ("session_timeout", config.session_timeout),
            ("heartbeat_interval", config.heartbeat_interval),
            ("rebalance_timeout", config.rebalance_timeout),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name} must be positive, got {value!r}")
        if config.fetch_max_wait < 0:
            raise ConfigurationError(f"fetch_max_wait must be >= 0, got {config.fetch_max_wait}")
        if config.auto_offset_reset not in ("earliest", "latest"):
            raise ConfigurationError(
                f"auto_offset_reset must be 'earliest' or 'latest', "
                f"got {config.auto_offset_reset!r}"
            )
        self._bootstrap = list(bootstrap_servers)
        self._topics = frozenset(topics)
        self._config = config
        self._security = dict(security or {})  # security_kwargs(credentials)
        self._kwargs = {**consumer_kwargs(config), **self._security}
        self._listener = _Listener(listener, self._forget_paused)
        self._consumer: Any = None
        self._state: _State = "created"
        self._polling = False
        self._resubscribing: asyncio.Future[None] | None = None
        self._crashing: asyncio.Future[None] | None = None
        #: the last assignment aiokafka reported, and the same converted (assignment())
        self._theirs: Any = None
        self._assigned: frozenset[TopicPartition] = frozenset()
        #: paused here, not in aiokafka (see pause()); set when a resume may unblock getmany
        self._paused: set[TopicPartition] = set()
        self._resumed = asyncio.Event()
        #: loop time since when aiokafka has known no group coordinator (see getmany)
        self._unreachable_since: float | None = None
        self._log = log.bind(group_id=config.group_id, client_id=config.client_id)

    def __repr__(self) -> str:
        return f"<KafkaConsumer group={self._config.group_id!r} {self._state}>"

    @property
    def topics(self) -> frozenset[str]:
        """The subscribed topic names."""
        return self._topics

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._state == "stopped"

    @property
    def config(self) -> ConsumerConfig:
        """The configuration this consumer was created with."""
        return self._config

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe; partitions arrive through the listener during getmany.

        Raises :class:`BrokerUnavailableError` if no bootstrap server answers.
        """
        if self._state == "started":
            return
        if self._state == "stopped":
            raise AppStateError("a stopped consumer cannot be started again: create a new one")
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, **self._kwargs)
        doing = f"connecting consumer of group {self._config.group_id!r}"
        try:
            async with explained(self._bootstrap, self._security, doing):
                with translate_errors(doing):
                    await consumer.start()
                if self._config.isolation_level == "read_committed":
                    install_stable_offsets(consumer)
                if self._topics:
                    consumer.subscribe(sorted(self._topics), listener=self._listener)
        except BaseException:
            await asyncio.shield(consumer.stop())
            raise
        self._consumer = consumer
        self._state = "started"
        self._log.debug("consumer_started", topics=sorted(self._topics))

    async def stop(self) -> None:
        """Leave the group (no listener call, no commit) and close the connections."""
        consumer = self._consumer
        self._state = "stopped"
        self._consumer = None
        if self._resubscribing is not None:
            self._resubscribing.cancel()
            await asyncio.gather(self._resubscribing, return_exceptions=True)
        self._assigned = frozenset()
        self._theirs = None
        if self._crashing is not None:  # crash() is closing the connections
            await asyncio.gather(self._crashing, return_exceptions=True)
        if consumer is not None:
            with translate_errors(f"stopping consumer of group {self._config.group_id!r}"):
                await _close(consumer)
            self._log.debug("consumer_stopped")

    def crash(self) -> None:
        """Die as a killed process does: no commit, no listener call, no LeaveGroup.

        Its heartbeats stop and its connections are closed (by a task; :meth:`stop` waits
        for it), but the group still counts it as a member until its
        ``session_timeout`` expires; then the others rebalance and resume its partitions
        from the group's committed offsets. For tests of what a crash redelivers
        (:func:`rxstreams.testing.crash` calls it).
        """
        consumer = self._consumer
        if consumer is None or self._state != "started":
            return
        self._state = "stopped"
        self._consumer = None
        self._assigned = frozenset()
        self._theirs = None
        if self._resubscribing is not None:
            self._resubscribing.cancel()
        coordinator = getattr(consumer, "_coordinator", None)
        if coordinator is not None:

            async def stay_in_the_group() -> None:  # aiokafka's close() would leave it
                coordinator.reset_generation()

            coordinator._maybe_leave_group = stay_in_the_group
        self._crashing = asyncio.ensure_future(self._close_crashed(consumer))
        self._log.warning("consumer_crashed")

    async def _close_crashed(self, consumer: Any) -> None:
        try:
            await _close(consumer)
        except Exception as exc:  # the broker is gone too: nothing left to close cleanly
            self._log.debug("crashed_consumer_close_failed", error=repr(exc))

    def subscribe(self, topics: Collection[str]) -> None:
        """Change the subscription; the group rebalances to hand out the new topics.

        The change is applied by a task: it first calls the listener's
        ``on_partitions_revoked`` for what this member holds (aiokafka would drop the
        assignment at once and call it afterwards, when a commit can no longer be made),
        then hands the new topics to aiokafka, which rejoins the group.
        """
        if isinstance(topics, str):
            raise ConfigurationError(
                f"topics must be a collection of topic names, not the string {topics!r}"
            )
        new = frozenset(topics)
        if new == self._topics:
            return
        self._topics = new
        if self._state == "started" and self._resubscribing is None:
            self._resubscribing = asyncio.ensure_future(self._resubscribe())

    async def _resubscribe(self) -> None:
        try:
            if self._consumer is not None:
                await self._listener.settled()
                await self._listener.revoke(self._consumer.assignment())
            consumer = self._consumer  # stop() may have run meanwhile
            if consumer is not None:
                with translate_errors("changing the subscription"):
                    if self._topics:
                        consumer.subscribe(sorted(self._topics), listener=self._listener)
                    else:
                        consumer.unsubscribe()
        except Exception as exc:  # raised by the next getmany
            self._listener.fail(exc)
        finally:
            self._resubscribing = None

    # -- fetching -------------------------------------------------------------------------

    async def getmany(
        self, *, timeout: float, max_records: int | None = None
    ) -> dict[TopicPartition, Sequence[MessageT]]:
        """Fetch a batch from the assigned, unpaused partitions; wait at most ``timeout``.

        Returns ``{}`` on timeout, also when a rebalance is still running then (aiokafka
        alone would wait for its end without a bound).
        """
        consumer = self._check_started("getmany")
        if max_records is not None and max_records < 1:
            raise ConfigurationError(f"max_records must be at least 1, got {max_records}")
        if self._polling:
            raise AppStateError("getmany is already running on this consumer")
        self._listener.raise_error()
        self._polling = True
        deadline = asyncio.timeout(timeout + 0.05)
        try:
            with translate_errors(f"fetching for group {self._config.group_id!r}"):
                async with deadline:
                    batch = await self._fetch(consumer, timeout, max_records)
        except TimeoutError:
            if not deadline.expired():
                raise
            batch = {}
        finally:
            self._polling = False
        if not batch:  # with records, the listener's error waits for the next call
            self._listener.raise_error()
            self._check_reachable(consumer)
        return {_new_tp(TopicPartition, tp): records for tp, records in batch.items()}

    def _check_reachable(self, consumer: Any) -> None:
        """Raise a retriable :class:`BrokerUnavailableError` once the group's coordinator
        has been unknown for ``session_timeout`` (checked after empty fetches only).

        aiokafka's ``getmany`` never fails when the broker goes away: its background tasks
        log the connection errors and try again, and ``getmany`` keeps returning nothing.
        The coordinator is forgotten at the first failed heartbeat and found again as soon
        as the broker answers, so its absence for a whole session is the outage.
        """
        coordinator = getattr(consumer, "_coordinator", None)
        if (
            coordinator is None
            or not self._topics  # no subscription: aiokafka does not look for one
            or getattr(coordinator, "coordinator_id", None) is not None
        ):
            self._unreachable_since = None
            return
        now = asyncio.get_running_loop().time()
        if self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since >= self._config.session_timeout:
            raise BrokerUnavailableError(
                f"the consumer of group {self._config.group_id!r} has had no group "
                f"coordinator for {now - self._unreachable_since:.1f}s: the broker at "
                f"{','.join(self._bootstrap)} does not answer (aiokafka keeps reconnecting)"
            )

    async def _fetch(self, consumer: Any, timeout: float, max_records: int | None) -> Any:
        """aiokafka's getmany, leaving out the paused partitions (see :meth:`pause`)."""
        timeout_ms = round(timeout * 1000)
        assigned = self.assignment() if self._paused else None
        if not assigned:
            return await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        fetchable = [_theirs(tp) for tp in assigned if tp not in self._paused]
        if fetchable:
            return await consumer.getmany(
                *fetchable, timeout_ms=timeout_ms, max_records=max_records
            )
        # all paused (and aiokafka reads "no partitions" as "every partition"): wait
        self._resumed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._resumed.wait()
        return {}

    # -- partitions -----------------------------------------------------------------------

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now (none from a revoke to the next assign)."""
        if self._consumer is None or not self._listener.holds:
            return frozenset()
        theirs = self._consumer.assignment()
        if theirs is not self._theirs:
            self._theirs = theirs
            self._assigned = _ours(theirs)
        return self._assigned

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning records for these partitions (unassigned ones are ignored).

        The pause is kept here and applied by :meth:`getmany`, which asks aiokafka for the
        other partitions only: aiokafka's own ``pause()`` throws away what it prefetched
        for the partition, and fetches it again after ``resume()``, a broker round trip
        per pause (flow control pauses and resumes often under load). What was
        prefetched stays buffered meanwhile (at most one fetch per partition), and no
        more is fetched for the partition until it is resumed and read (aiokafka holds
        the fetches of the broker's other partitions back for its prefetch backoff,
        100 ms, after such a batch arrived). A rebalance forgets pauses, as aiokafka does.
        """
        if self._consumer is None:
            return
        assigned = self.assignment()
        self._paused.update(tp for tp in partitions if tp in assigned)

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        """Return records for these partitions again (unassigned ones are ignored)."""
        if self._consumer is None:
            return
        assigned = self.assignment()
        resumed = [tp for tp in partitions if tp in assigned and tp in self._paused]
        if resumed:
            self._paused.difference_update(resumed)
            self._resumed.set()

    def paused(self) -> frozenset[TopicPartition]:
        """The partitions paused now."""
        return frozenset(self._paused & self.assignment())

    def _forget_paused(self) -> None:
        """The assignment changes: pauses end with it, as in aiokafka."""
        if self._paused:
            self._paused.clear()
            self._resumed.set()

    def highwater(self, partition: TopicPartition) -> int | None:
        """The end of the log of an assigned partition as of the last fetch, or None.

        None also before the first fetch response for the partition came back. Reading
        ``read_committed``, the end is the last stable offset: records from there on
        belong to transactions still open.
        """
        if partition not in self.assignment():
            return None
        return _end(self._consumer, self._config.isolation_level, _theirs(partition))

    def group_metadata(self) -> GroupMetadata:
        """The group, generation and member id this consumer has now (-1 and "" when it
        is not a member of a generation: before it joined, or after it was expelled)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is None:
            return GroupMetadata(self._config.group_id, -1, "")
        return GroupMetadata(
            self._config.group_id, int(coordinator.generation), str(coordinator.member_id)
        )

    def position(self, partition: TopicPartition) -> int | None:
        """The next offset this member hands out for an assigned partition, if known.

        aiokafka's own ``position()`` is a coroutine that waits for an offset reset; this
        reads the subscription state as it is (None while the position is being reset).
        """
        subscription = self._consumer._subscription.subscription
        if subscription is None or subscription.assignment is None:
            return None
        try:
            state = subscription.assignment.state_value(_theirs(partition))
        except (KeyError, AssertionError):
            return None
        if state is None or not state.has_valid_position:
            return None
        position: int = state.position
        return position

    # -- offsets --------------------------------------------------------------------------

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit "next offset to read" per partition.

        Raises :class:`CommitFailedError` when the group rebalanced under this member or
        a partition is not assigned to it, and :class:`BrokerUnavailableError` when the
        broker did not answer within ``session_timeout`` (by then the group has moved on).
        """
        consumer = self._check_started("commit")
        theirs = {}
        for tp, offset in offsets.items():
            if type(offset) is not int or offset < 0:
                raise ConfigurationError(f"cannot commit offset {offset!r} for {tp}")
            theirs[_theirs(tp)] = offset
        if not theirs:
            return
        group = self._config.group_id
        try:
            async with asyncio.timeout(self._config.session_timeout):
                with translate_errors(f"commit for group {group!r}"):
                    try:
                        await consumer.commit(theirs)
                    except IllegalStateError as exc:  # a partition not assigned (any more)
                        raise CommitFailedError(
                            f"commit refused for group {group!r} ({exc}): this member "
                            f"owns {sorted(self.assignment())}, not all of {sorted(offsets)}; "
                            "they may belong to another member now. Records after the "
                            "last successful commit will be delivered again."
                        ) from exc
        except TimeoutError as exc:
            raise BrokerUnavailableError(
                f"commit for group {group!r} got no answer in {self._config.session_timeout}s "
                "(session_timeout); is the broker running?"
            ) from exc

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of a partition, or None (one broker round trip)."""
        consumer = self._check_started("committed")
        group = self._config.group_id
        try:
            async with asyncio.timeout(self._config.session_timeout):
                with translate_errors(f"reading the committed offset of group {group!r}"):
                    result: int | None = await consumer.committed(_theirs(partition))
        except TimeoutError as exc:
            raise BrokerUnavailableError(
                f"reading the committed offset of {partition} for group {group!r} got no "
                f"answer in {self._config.session_timeout}s (session_timeout)"
            ) from exc
        return result

    # -- checks ---------------------------------------------------------------------------

    def _check_started(self, operation: str) -> Any:
        if self._state == "created":
            raise AppStateError(f"{operation}() before start(): await consumer.start() first")
        if self._state == "stopped":
            raise BrokerUnavailableError(
                f"{operation}() on a stopped consumer of group {self._config.group_id!r}",
                retriable=False,
            )
        return self._consumer


def _end(consumer: Any, isolation_level: str, tp: KafkaTopicPartition) -> int | None:
    """aiokafka's high watermark, or its last stable offset for a read_committed reader."""
    if isolation_level == "read_committed":
        stable: int | None = consumer.last_stable_offset(tp)
        if stable is not None and stable >= 0:
            return stable
    end: int | None = consumer.highwater(tp)
    return end


async def _close(consumer: Any) -> None:
    """``consumer.stop()``, also when the broker went away.

    aiokafka (0.14) cancels the fetch requests still pending and awaits them; one that was
    waiting out a failed request (the broker is down) re-raises that cancellation out of
    ``stop()``, before the connections are closed. That cancellation is not ours: close
    the rest and return, unless this task is being cancelled itself.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        await consumer._client.close()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka's listener interface around ours: converts partitions, keeps order, and
    holds on to an exception of ours for :meth:`KafkaConsumer.getmany` to raise."""

    def __init__(self, listener: RebalanceListenerT, on_change: Callable[[], None]) -> None:
        self._listener = listener
        self._on_change = on_change
        self._holds = False  # assigned and not revoked since
        self._error: BaseException | None = None
        self._quiet = asyncio.Event()  # no on_partitions_assigned of ours is running
        self._quiet.set()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.revoke(revoked)

    async def revoke(self, revoked: Any) -> None:
        """Call our listener's ``on_partitions_revoked``, unless nothing is held.

        aiokafka's first join revokes an empty set before anything was assigned, and
        :meth:`KafkaConsumer.subscribe` revokes ahead of aiokafka.
        """
        if not self._holds:
            return
        self._holds = False
        self._on_change()
        partitions = _ours(revoked)
        log.debug("partitions_revoked", partitions=sorted(partitions))
        try:
            await self._listener.on_partitions_revoked(partitions)
        except Exception as exc:
            self.fail(exc)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._holds = True
        self._on_change()  # a new assignment starts unpaused, as in aiokafka
        partitions = _ours(assigned)
        log.debug("partitions_assigned", partitions=sorted(partitions))
        self._quiet.clear()
        try:
            await self._listener.on_partitions_assigned(partitions)
        except Exception as exc:
            self.fail(exc)
        finally:
            self._quiet.set()

    async def settled(self) -> None:
        """Until no assignment of ours is being handled (a subscription change made
        meanwhile would revoke partitions the runtime has not taken yet, and aiokafka's
        rejoin then stalls)."""
        await self._quiet.wait()

    @property
    def holds(self) -> bool:
        """True from an assignment until its revocation."""
        return self._holds

    def fail(self, exc: Exception) -> None:
        """Keep ``exc`` for the next getmany to raise (the first one wins)."""
        if self._error is None:
            self._error = exc

    def raise_error(self) -> None:
        error = self._error
        if error is not None:
            self._error = None
            raise error
