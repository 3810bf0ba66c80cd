"""The in-process run queue passes the `RunQueuePort` contract, and keeps its concurrency bound."""

from __future__ import annotations

import asyncio

import pytest

from adapters.inprocess import InProcessRunQueue
from domain.errors import QueueUnavailableError
from domain.ports import RunHandler, RunQueuePort
from tests.contracts.run_queue import MakeQueue, RecordingHandler, RunQueueContract, job


class TestInProcessRunQueue(RunQueueContract):
    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        async def make(handler: RunHandler) -> RunQueuePort:
            return InProcessRunQueue(handler, max_concurrent=4)

        return make


@pytest.mark.anyio
async def test_at_most_max_concurrent_runs_execute_together() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    async def handler(_: object) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    queue = InProcessRunQueue(handler, max_concurrent=3)
    for _ in range(10):
        await queue.submit(job())
    for _ in range(50):
        await asyncio.sleep(0)
    assert peak == 3
    release.set()
    await queue.aclose()


@pytest.mark.anyio
async def test_aclose_cancels_the_runs_and_refuses_new_ones() -> None:
    handler = RecordingHandler()
    queue = InProcessRunQueue(handler)
    held = job()
    handler.hold.add(held.conversation_id)
    await queue.submit(held)
    await handler.until(lambda: len(handler.started) == 1)
    await queue.aclose()
    assert handler.cancelled == [held.conversation_id]
    with pytest.raises(QueueUnavailableError):
        await queue.submit(job())
