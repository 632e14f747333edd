"""TaskScope: the one owner of a worker's tasks.

Every task a running app needs (the fetch loop, the commit loop, agent instances, forwarders,
the reply reader, timers, readiness of newly assigned partitions, casts) is spawned here.
A task that fails reports to the scope's owner at once (the worker crashes on it), unless
it was spawned as not critical: then its error is left to whoever awaits it. Closing the
scope cancels what is left, newest first, and waits for every task to end.

Why not :class:`asyncio.TaskGroup`: an app starts and stops in two separate calls
(``start()`` and ``stop()``, or a CLI's signal handler), so no ``async with`` block spans its
life; and a failure must stop the worker in order (stop fetching, commit what is done,
then stop the rest), not cancel everything at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from ..errors import AppStateError

__all__ = ("TaskScope",)

T = TypeVar("T")


class TaskScope:
    """Owns tasks; failures go to ``on_error``; :meth:`close` ends them all."""

    def __init__(self, name: str, on_error: Callable[[BaseException], None]) -> None:
        self.name = name
        self._on_error = on_error
        self._tasks: dict[asyncio.Task[Any], bool] = {}
        #: tasks a graceful stop lets finish (sends: casts, dead letters)
        self._finishing: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        name: str,
        *,
        critical: bool = True,
        finish: bool = False,
    ) -> asyncio.Task[T]:
        """Run ``coro`` as a task of this scope.

        Args:
            critical: its failure stops the worker (else it is left to whoever awaits it).
            finish: a graceful stop lets it finish (:meth:`settle`) instead of cancelling
                it: a send that was asked for.
        """
        if self.closed:
            coro.close()
            raise AppStateError(f"{self.name} has stopped: cannot start {name}")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks[task] = critical
        if finish:
            self._finishing.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        critical = self._tasks.pop(task, True)
        self._finishing.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if critical:
            self._on_error(exc)

    def __len__(self) -> int:
        return len(self._tasks)

    def tasks(self) -> list[asyncio.Task[Any]]:
        """The tasks still running, oldest first."""
        return list(self._tasks)

    async def cancel(self, tasks: Iterable[asyncio.Task[Any]]) -> None:
        """Cancel ``tasks`` and wait until they ended (their errors are theirs)."""
        tasks = [t for t in tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def settle(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the tasks spawned with ``finish=True``."""
        pending = list(self._finishing)
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def close(self) -> None:
        """Cancel every task, newest first, and wait for each to end."""
        self.closed = True
        me = asyncio.current_task()
        while any(t is not me for t in self._tasks):
            await self.cancel(reversed(list(self._tasks)))
