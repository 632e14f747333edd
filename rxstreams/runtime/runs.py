"""Bounded runs (``App.run``): what ends them, what they collect, their progress bar."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..notebook import progress_bar

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ("BoundedRun", "RunResult")


class RunResult(dict[str, list[Any]]):
    """What the agents yielded during ``App.run()``, by agent name (``all``: every value,
    in the order they were yielded)."""

    def __init__(self) -> None:
        super().__init__()
        self.all: list[Any] = []


class BoundedRun:
    """One ``App.run()``: collects yields, ends on count/idle/timeout, shows progress."""

    def __init__(self, worker: Worker, *, count: int | None, progress: bool) -> None:
        self.worker = worker
        self.count = count
        self.result = RunResult()
        self._enough = asyncio.Event()
        label = "outputs" if count else "events"
        self._bar = progress_bar(count, f"{worker.app.id}: {label}") if progress else None
        self._ticker: asyncio.Future[None] | None = None

    def collect(self, agent: str, value: Any) -> None:
        """An agent yielded ``value``."""
        result = self.result
        if self.count is not None and len(result.all) >= self.count:
            return  # the run is stopping: what comes after the count is not collected
        result.setdefault(agent, []).append(value)
        result.all.append(value)
        if self.count is not None and len(result.all) >= self.count:
            self._enough.set()

    async def wait(self, *, timeout: float | None, until_idle: bool) -> None:
        """Until the first of: the app stopped, idle, ``count`` outputs, ``timeout``."""
        if self._bar is not None:
            self._ticker = asyncio.ensure_future(self._tick())
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.worker.stopped.wait())]
        if until_idle:
            waits.append(asyncio.ensure_future(self._until_idle()))
        if self.count is not None:
            waits.append(asyncio.ensure_future(self._enough.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def close(self) -> None:
        """Stop the progress bar at its final count."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self._bar is not None:
            self._bar.n = self._progress()
            self._bar.refresh()
            self._bar.close()

    def _progress(self) -> int:
        return len(self.result.all) if self.count else self.worker.committer.total_acks

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            assert self._bar is not None
            self._bar.n = self._progress()
            self._bar.refresh()

    async def _until_idle(self) -> None:
        """Every event fetched is processed, and nothing new arrived: not even a record the
        app sent itself meanwhile (to a through or repartition topic it reads), which a
        later fetch would bring."""
        worker = self.worker
        idle = worker.fetcher.idle
        while True:
            sent = worker.producing.sent
            if worker.sources:
                idle.clear()
                await idle.wait()  # a fetch found nothing new, at the end
            else:
                await asyncio.sleep(worker.app.conf.fetch_timeout)  # channels only: look again
            if not all(s.in_flight == 0 for s in worker.all_sources() if s.ports):
                continue
            if worker.producing.sent == sent:
                return
            await worker.producing.flush()  # on the broker before the next fetch looks
