"""The `RunQueuePort` contract: a submitted run executes once, and stop ends it where it runs.

Subclass `RunQueueContract` and provide ``make_queue``: an async factory taking a
`RunHandler` and returning a started queue whose runs execute with it (for a queue that
spans processes, together with a worker serving it). The suite closes the queue itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from domain.ports import RunHandler, RunQueuePort
from domain.service import RunJob

__all__ = ["MakeQueue", "RecordingHandler", "RunQueueContract"]

MakeQueue = Callable[[RunHandler], Awaitable[RunQueuePort]]

GENEROUS = 30.0
"""Seconds a test waits for something that normally takes milliseconds."""


def job(conversation_id: str | None = None, *, resume: bool = False) -> RunJob:
    return RunJob(
        run_id=uuid.uuid4().hex,
        conversation_id=conversation_id or uuid.uuid4().hex,
        owner_id="owner-1",
        resume=resume,
    )


class RecordingHandler:
    """A `RunHandler` that records what it ran; runs for conversations in ``hold`` block until cancelled."""

    def __init__(self) -> None:
        self.started: list[RunJob] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.hold: set[str] = set()
        self._changed = asyncio.Event()

    async def __call__(self, job: RunJob) -> None:
        self.started.append(job)
        self._poke()
        try:
            if job.conversation_id in self.hold:
                await asyncio.sleep(3600)
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.append(job.conversation_id)
            self._poke()
            raise
        self.finished.append(job.conversation_id)
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], within: float = GENEROUS) -> None:
        async def _wait() -> None:
            while not predicate():
                await self._changed.wait()

        await asyncio.wait_for(_wait(), within)


@pytest.mark.anyio
class RunQueueContract:
    """Tests every `RunQueuePort` adapter passes; subclasses provide ``make_queue``."""

    @pytest.fixture
    def make_queue(self) -> MakeQueue:  # pragma: no cover - overridden
        raise NotImplementedError

    async def test_a_submitted_job_runs_once_with_its_fields(self, make_queue: MakeQueue) -> None:
        handler = RecordingHandler()
        queue = await make_queue(handler)
        try:
            submitted = job(resume=True)
            await queue.submit(submitted)
            await handler.until(lambda: submitted.conversation_id in handler.finished)
            await asyncio.sleep(0.2)
            assert len(handler.started) == 1
            ran = handler.started[0]
            assert (ran.run_id, ran.conversation_id, ran.owner_id, ran.resume, ran.attempt) == (
                submitted.run_id,
                submitted.conversation_id,
                submitted.owner_id,
                True,
                1,
            )
        finally:
            await queue.aclose()

    async def test_many_jobs_all_run(self, make_queue: MakeQueue) -> None:
        handler = RecordingHandler()
        queue = await make_queue(handler)
        try:
            jobs = [job() for _ in range(20)]
            await asyncio.gather(*(queue.submit(j) for j in jobs))
            await handler.until(lambda: len(handler.finished) == len(jobs))
            assert sorted(handler.finished) == sorted(j.conversation_id for j in jobs)
        finally:
            await queue.aclose()

    async def test_cancel_stops_the_running_job(self, make_queue: MakeQueue) -> None:
        handler = RecordingHandler()
        queue = await make_queue(handler)
        try:
            running = job()
            handler.hold.add(running.conversation_id)
            await queue.submit(running)
            await handler.until(lambda: any(j.run_id == running.run_id for j in handler.started))
            assert await queue.cancel(running.conversation_id) is True
            await handler.until(lambda: running.conversation_id in handler.cancelled)
            assert running.conversation_id not in handler.finished
        finally:
            await queue.aclose()

    async def test_cancel_of_a_conversation_without_a_run_is_false(self, make_queue: MakeQueue) -> None:
        queue = await make_queue(RecordingHandler())
        try:
            assert await queue.cancel(uuid.uuid4().hex) is False
        finally:
            await queue.aclose()

    async def test_a_finished_run_cannot_be_cancelled(self, make_queue: MakeQueue) -> None:
        handler = RecordingHandler()
        queue = await make_queue(handler)
        try:
            done = job()
            await queue.submit(done)
            await handler.until(lambda: done.conversation_id in handler.finished)
            # The queue forgets the run once the handler returned (a spanning queue a moment later).
            for _ in range(300):
                if not await queue.cancel(done.conversation_id):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the queue still reports a run after it finished")
            assert all(j.conversation_id != done.conversation_id for j in handler.started[1:])
        finally:
            await queue.aclose()
