"""`TaskiqRedisRunQueue` and `TaskiqRedisWorker`: the run-queue contract on Taskiq + Redis,
redelivery after a worker died, the delivery limit, cancellation across processes and Redis
going away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest
from redis.asyncio import Redis

from adapters.events.redis_streams import RedisStreamsEventLog
from adapters.queue.taskiq_redis import RedisQueueSettings, TaskiqRedisRunQueue, TaskiqRedisWorker
from domain.errors import QueueUnavailableError
from domain.ports import RunHandler, RunQueuePort
from domain.service import RunJob
from tests.contracts.event_log import MemoryEventLog
from tests.contracts.run_queue import GENEROUS, MakeQueue, RecordingHandler, RunQueueContract, job
from tests.servers import ThrowawayRedis, free_port

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


@attrs.define
class QueueWithWorkers:
    """An API-side queue plus in-process workers: a `RunQueuePort` whose runs execute."""

    queue: TaskiqRedisRunQueue
    workers: list[TaskiqRedisWorker]
    tasks: list[asyncio.Task[None]] = attrs.field(factory=list)

    @classmethod
    async def start(
        cls, settings: RedisQueueSettings, handler: RunHandler, *, workers: int = 1, concurrency: int = 100
    ) -> QueueWithWorkers:
        started = cls(
            TaskiqRedisRunQueue(settings),
            [TaskiqRedisWorker(settings, handler, concurrency=concurrency) for _ in range(workers)],
        )
        for worker in started.workers:
            started.tasks.append(asyncio.create_task(worker.run()))
            await asyncio.wait_for(worker.wait_started(), GENEROUS)
        return started

    async def submit(self, job: RunJob) -> None:
        await self.queue.submit(job)

    async def cancel(self, conversation_id: str) -> bool:
        return await self.queue.cancel(conversation_id)

    async def aclose(self) -> None:
        for worker in self.workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*self.tasks), GENEROUS)
        await self.queue.aclose()


def _settings(url: str, prefix: str, **overrides: float) -> RedisQueueSettings:
    return RedisQueueSettings(url=url, prefix=prefix, **overrides)  # type: ignore[arg-type]


class TestTaskiqRedisRunQueue(RunQueueContract):
    @pytest.fixture
    def make_queue(self, redis_url: str, prefix: str) -> MakeQueue:
        async def make(handler: RunHandler) -> RunQueuePort:
            return await QueueWithWorkers.start(_settings(redis_url, prefix), handler, workers=2)

        return make


@pytest.fixture
async def cluster(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., Awaitable[QueueWithWorkers]]]:
    started: list[QueueWithWorkers] = []

    async def make(handler: RunHandler, **kwargs: object) -> QueueWithWorkers:
        overrides = {k: v for k, v in kwargs.items() if k not in {"workers", "concurrency"}}
        queue = await QueueWithWorkers.start(
            _settings(redis_url, prefix, **overrides),  # type: ignore[arg-type]
            handler,
            workers=int(kwargs.get("workers", 1)),  # type: ignore[call-overload]
            concurrency=int(kwargs.get("concurrency", 100)),  # type: ignore[call-overload]
        )
        started.append(queue)
        return queue

    yield make
    for queue in started:
        await queue.aclose()


async def test_cancel_from_another_process_reaches_the_worker(
    cluster: Callable[..., Awaitable[QueueWithWorkers]], redis_url: str, prefix: str
) -> None:
    handler = RecordingHandler()
    running = await cluster(handler, workers=2)
    target = job()
    handler.hold.add(target.conversation_id)
    await running.submit(target)
    await handler.until(lambda: bool(handler.started))
    other_api = TaskiqRedisRunQueue(_settings(redis_url, prefix))  # another API process's queue
    try:
        assert await other_api.cancel(target.conversation_id) is True
        await handler.until(lambda: target.conversation_id in handler.cancelled)
    finally:
        await other_api.aclose()


async def test_a_job_cancelled_while_queued_is_cancelled_when_it_starts(
    cluster: Callable[..., Awaitable[QueueWithWorkers]],
) -> None:
    handler = RecordingHandler()
    running = await cluster(handler, concurrency=1)
    first, second = job(), job()
    handler.hold.add(first.conversation_id)
    await running.submit(first)
    await handler.until(lambda: len(handler.started) == 1)
    await running.submit(second)
    assert await running.cancel(second.conversation_id) is True  # still queued: the worker is full
    assert await running.cancel(first.conversation_id) is True
    await handler.until(lambda: {first.conversation_id, second.conversation_id} <= set(handler.cancelled))
    assert handler.finished == []


async def test_a_slow_run_is_not_delivered_twice_while_its_worker_lives(
    cluster: Callable[..., Awaitable[QueueWithWorkers]],
) -> None:
    attempts: list[tuple[str, int]] = []

    async def slow(job: RunJob) -> None:
        attempts.append((job.run_id, job.attempt))
        await asyncio.sleep(2.5)  # five times the redelivery delay below

    running = await cluster(slow, workers=2, redelivery_after=0.5, lease=1.5)
    target = job()
    await running.submit(target)
    client = Redis.from_url(running.queue.settings.url)
    try:
        for _ in range(int(GENEROUS * 10)):
            if attempts and await client.xlen(running.queue.settings.stream) == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    assert attempts == [(target.run_id, 1)]


def _start_worker_process(url: str, prefix: str, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.adapters.scale.worker_proc", url, prefix, str(seconds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def _log_until(client: Redis, key: str, predicate: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline:
        entries = [entry.decode() for entry in await client.lrange(key, 0, -1)]
        if predicate(entries):
            return entries
        await asyncio.sleep(0.05)
    pytest.fail(f"{key} never matched; it holds {entries}")


async def _submit_then_kill(
    queue: TaskiqRedisRunQueue, client: Redis, prefix: str, worker: subprocess.Popen[bytes]
) -> RunJob:
    """Submit a job, wait until ``worker`` has started it, then kill the worker mid-run."""
    target = job()
    await queue.submit(target)
    await _log_until(client, f"{prefix}:log", lambda log: f"start:{target.run_id}:1" in log)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    return target


async def test_a_job_whose_worker_was_killed_is_delivered_again(redis_url: str, prefix: str) -> None:
    settings = _settings(redis_url, prefix, redelivery_after=1.0, lease=1.5)
    queue = TaskiqRedisRunQueue(settings)
    client = Redis.from_url(redis_url)
    doomed = _start_worker_process(redis_url, prefix, 3600)
    survivor: subprocess.Popen[bytes] | None = None
    try:
        target = await _submit_then_kill(queue, client, prefix, doomed)
        survivor = _start_worker_process(redis_url, prefix, 0.1)
        log = await _log_until(client, f"{prefix}:log", lambda log: f"end:{target.run_id}" in log)
        assert log == [f"start:{target.run_id}:1", f"start:{target.run_id}:2", f"end:{target.run_id}"]
        for _ in range(int(GENEROUS * 10)):  # acknowledged and removed from the stream
            if await client.xlen(settings.stream) == 0 and not await client.exists(
                settings.run_key(target.conversation_id)
            ):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the job stayed queued after it ran")
    finally:
        for process in (doomed, survivor):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        await client.aclose()
        await queue.aclose()


async def test_past_the_delivery_limit_the_run_is_given_up(redis_url: str, prefix: str) -> None:
    settings = _settings(redis_url, prefix, redelivery_after=1.0, lease=1.5, max_deliveries=1)
    queue = TaskiqRedisRunQueue(settings)
    client = Redis.from_url(redis_url)
    doomed = _start_worker_process(redis_url, prefix, 3600)
    given_up: list[tuple[RunJob, str]] = []
    handler = RecordingHandler()

    async def give_up(job: RunJob, error: str) -> None:
        given_up.append((job, error))

    worker = TaskiqRedisWorker(settings, handler, give_up=give_up)
    serving: asyncio.Task[None] | None = None
    try:
        target = await _submit_then_kill(queue, client, prefix, doomed)
        serving = asyncio.create_task(worker.run())
        for _ in range(int(GENEROUS * 10)):
            if given_up:
                break
            await asyncio.sleep(0.1)
        assert [(j.run_id, j.attempt) for j, _ in given_up] == [(target.run_id, 2)]
        assert "delivery limit 1" in given_up[0][1]
        assert handler.started == []
    finally:
        if doomed.poll() is None:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        worker.stop()
        if serving is not None:
            await asyncio.wait_for(serving, GENEROUS)
        await client.aclose()
        await queue.aclose()


async def test_redis_down_means_unavailable_then_recovers_by_itself(tmp_path: Path) -> None:
    with ThrowawayRedis(tmp_path) as server:
        settings = RedisQueueSettings(url=server.url, prefix="cw", connect_timeout=1.0)
        handler = RecordingHandler()
        running = await QueueWithWorkers.start(settings, handler)
        try:
            before = job()
            await running.submit(before)
            await handler.until(lambda: before.conversation_id in handler.finished)
            server.stop()
            with pytest.raises(QueueUnavailableError) as caught:
                await running.submit(job())
            assert f"127.0.0.1:{server.port}" in str(caught.value)
            assert "try again" in str(caught.value)
            server.start()
            after = job()
            for _ in range(100):  # the pool reconnects on the next call
                try:
                    await running.submit(after)
                    break
                except QueueUnavailableError:
                    await asyncio.sleep(0.2)
            await handler.until(lambda: after.conversation_id in handler.finished)
        finally:
            await running.aclose()


async def test_no_key_is_left_behind(
    cluster: Callable[..., Awaitable[QueueWithWorkers]], redis_url: str, prefix: str
) -> None:
    handler = RecordingHandler()
    running = await cluster(handler)
    jobs = [job() for _ in range(5)]
    for j in jobs:
        await running.submit(j)
    await handler.until(lambda: len(handler.finished) == 5)
    client = Redis.from_url(redis_url)
    try:
        for _ in range(int(GENEROUS * 10)):
            keys = sorted(k.decode() for k in await client.keys(f"{prefix}:*"))
            if keys == [f"{prefix}:jobs"]:
                break
            await asyncio.sleep(0.1)
        assert keys == [f"{prefix}:jobs"]
        assert await client.xlen(f"{prefix}:jobs") == 0
    finally:
        await client.aclose()


async def test_no_password_in_reprs_or_errors() -> None:
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = RedisQueueSettings(url=url, connect_timeout=0.5)
    assert "s3cret" not in repr(settings)
    assert "127.0.0.1" in repr(settings)
    queue = TaskiqRedisRunQueue(settings)
    log = RedisStreamsEventLog(url, durable=MemoryEventLog())
    try:
        with pytest.raises(QueueUnavailableError) as caught:
            await queue.submit(job())
        assert "s3cret" not in str(caught.value)
        assert "s3cret" not in repr(log)
    finally:
        await queue.aclose()
        await log.aclose()


async def test_a_worker_started_before_redis_waits_for_it(tmp_path: Path) -> None:
    server = ThrowawayRedis(tmp_path)  # not started yet
    settings = RedisQueueSettings(url=server.url, prefix="cw", connect_timeout=1.0)
    handler = RecordingHandler()
    worker = TaskiqRedisWorker(settings, handler)
    serving = asyncio.create_task(worker.run())
    queue = TaskiqRedisRunQueue(settings)
    try:
        await asyncio.sleep(1.0)
        assert not serving.done()
        server.start()
        await asyncio.wait_for(worker.wait_started(), GENEROUS)
        submitted = job()
        await queue.submit(submitted)
        await handler.until(lambda: submitted.conversation_id in handler.finished)
    finally:
        worker.stop()
        await asyncio.wait_for(serving, GENEROUS)
        await queue.aclose()
        server.stop()
