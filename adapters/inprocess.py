"""`InProcessRunQueue`: the embedded run queue — each run is an asyncio task of this process.

One ``cw serve`` needs nothing else: a submitted job starts at once as a task, at most
``max_concurrent`` (``CW_MAX_CONCURRENT_RUNS``, default 32) execute together and the others
wait their turn. Stopping a run cancels its task, which closes the model stream in flight;
`cancel` waits (a few seconds at most) for the handler to record the cancellation, so the
caller then sees the conversation ``cancelled``. `aclose` (SIGTERM) cancels every run the
same way. Jobs live in memory only: a crash loses the queued ones, and ``cw serve`` marks
their conversations failed at the next start.
"""

from __future__ import annotations

import asyncio
import logging

from domain.errors import QueueUnavailableError
from domain.ports import RunHandler
from domain.service import RunJob

__all__ = ["DEFAULT_MAX_CONCURRENT_RUNS", "InProcessRunQueue"]

DEFAULT_MAX_CONCURRENT_RUNS = 32
_log = logging.getLogger("cw.runs")


class InProcessRunQueue:
    """A `RunQueuePort` running jobs as tasks of the current event loop.

    Args:
        handler: executes one job (`ExecuteRun`).
        max_concurrent: how many jobs run at once; the others wait, in order.
        cancel_wait: the most seconds `cancel` and `aclose` wait for cancelled runs to end.
    """

    def __init__(
        self,
        handler: RunHandler,
        *,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT_RUNS,
        cancel_wait: float = 5.0,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._handler = handler
        self._slots = asyncio.Semaphore(max_concurrent)
        self._cancel_wait = cancel_wait
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def running(self) -> int:
        """How many jobs are running or waiting for a slot."""
        return sum(not task.done() for task in self._tasks.values())

    async def submit(self, job: RunJob) -> None:
        """Start the job as a task; `QueueUnavailableError` once the queue is closing."""
        if self._closed:
            raise QueueUnavailableError(
                "the server is shutting down and takes no new runs; try again shortly"
            )
        task = asyncio.create_task(self._run(job), name=f"cw-run-{job.conversation_id}")
        self._tasks[job.conversation_id] = task
        task.add_done_callback(lambda done: self._forget(job.conversation_id, done))

    def _forget(self, conversation_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(conversation_id) is task:
            del self._tasks[conversation_id]

    async def _run(self, job: RunJob) -> None:
        async with self._slots:
            try:
                await self._handler(job)
            except Exception as error:  # the handler records its own failures; this is a bug
                _log.error("run %s of conversation %s failed: %s", job.run_id, job.conversation_id, error)

    async def cancel(self, conversation_id: str) -> bool:
        """Cancel the conversation's run (running or waiting for a slot) and wait for it to end."""
        task = self._tasks.get(conversation_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=self._cancel_wait)
        return True

    async def aclose(self) -> None:
        """Take no more jobs; cancel the runs in flight and wait for them to record it."""
        self._closed = True
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._cancel_wait)

    def __repr__(self) -> str:
        return f"InProcessRunQueue({self.running} runs)"
