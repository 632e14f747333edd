"""Request/reply for ``Agent.ask()``: the reply topic and the futures waiting on it.

Every app instance reads every partition of the app's reply topic (``<app id>-replies``)
with a reader of its own (in no consumer group, so none is left on the broker; starting
at the end), so each worker sees every reply and keeps those whose correlation id it is
waiting for. The reply carries the correlation id as its key, which is what both reply
styles produce: an agent that ``yield``s a result, and an agent that sends
``event.send(event.reply_to, key=event.correlation_id, value=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ..codecs import get_codec
from ..errors import AppStateError, AskTimeoutError
from ..logging import get_logger
from ..messages import TopicPartition
from ..types import CodecT, ReaderConfig, ReaderT

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ("Replies",)

log = get_logger(__name__)


class Replies:
    """The reply reader of one worker, started on the first ``ask()``.

    Pending asks fail when the worker stops: with the error it crashed with, or with
    :class:`~rxstreams.errors.AppStateError` on a graceful stop; never a bare
    ``CancelledError``.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.topic_name = f"{worker.app.id}-replies"
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._reader: ReaderT | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._codec = get_codec("json")

    async def ensure_started(self) -> None:
        """Declare the reply topic and start reading it (once)."""
        async with self._lock:
            if self._task is not None:
                return
            app = self.worker.app
            topic = app.topic(self.topic_name, internal=True)
            await self.worker.producing.declare([topic.spec()])
            config = ReaderConfig(
                client_id=f"{app.id}-replies",
                # exactly-once: a reply sent in a transaction that aborts is never read
                isolation_level=app.conf.consumer_config().isolation_level,
            )
            reader = self.worker.create_reader(config)
            await reader.start()
            numbers = await reader.partitions_for(self.topic_name)
            partitions = [TopicPartition(self.topic_name, p) for p in numbers]
            await reader.assign(partitions)
            await reader.seek_to_end(partitions)  # replies produced from now on are seen
            self._reader = reader
            self._task = self.worker.spawn(self._run(reader), "replies")

    async def _run(self, reader: ReaderT) -> None:
        loads = self._codec.loads
        while True:
            batches = await reader.getmany(timeout=0.5, max_records=1000)
            for messages in batches.values():
                for m in messages:
                    if m.key is None:
                        continue
                    try:
                        cid = str(loads(m.key))
                    except Exception as exc:  # a foreign record on the reply topic
                        log.warning("reply_not_understood", offset=m.offset, error=repr(exc))
                        continue
                    fut = self._waiting.pop(cid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(m.value)  # decoded by the asker, as it asked

    def expect(self, correlation_id: str) -> asyncio.Future[Any]:
        """A future resolved with the reply to ``correlation_id``."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = fut
        return fut

    @property
    def pending(self) -> int:
        """How many asks wait for their reply."""
        return len(self._waiting)

    def forget(self, correlation_id: str) -> None:
        """The request was never sent: no reply is waited for."""
        fut = self._waiting.pop(correlation_id, None)
        if fut is not None:
            fut.cancel()

    async def wait(
        self,
        correlation_id: str,
        fut: asyncio.Future[Any],
        timeout: float,
        codec: CodecT | None = None,
    ) -> Any:
        """The reply decoded with ``codec`` (default JSON), or AskTimeoutError after
        ``timeout`` seconds."""
        try:
            raw = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AskTimeoutError(
                f"no reply to request {correlation_id} within {timeout}s; is an agent "
                "running for that channel, and does it yield or send its reply?"
            ) from None
        finally:
            self._waiting.pop(correlation_id, None)
        return None if raw is None else (codec or self._codec).loads(raw)

    async def stop(self, error: BaseException | None = None) -> None:
        """Stop reading replies; pending asks fail with ``error`` (or "app stopped")."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.stop()
            self._reader = None
        for cid, fut in self._waiting.items():
            if not fut.done():
                fut.set_exception(
                    error
                    if error is not None
                    else AppStateError(
                        f"app {self.worker.app.id} stopped before the reply to request {cid} came"
                    )
                )
        self._waiting.clear()
