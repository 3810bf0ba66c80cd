"""A worker process for the redelivery tests: runs jobs with a handler that logs to Redis.

``python -m tests.adapters.scale.worker_proc URL PREFIX SECONDS`` serves the queue under
``PREFIX``; each run pushes ``start:<run_id>:<attempt>`` to ``PREFIX:log``, sleeps
``SECONDS`` and pushes ``end:<run_id>``. The tests SIGKILL it mid-run.
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from adapters.queue.taskiq_redis import RedisQueueSettings, TaskiqRedisWorker
from domain.service import RunJob


async def _main(url: str, prefix: str, seconds: float) -> None:
    settings = RedisQueueSettings(url=url, prefix=prefix, redelivery_after=1.0, lease=1.5)
    log = Redis.from_url(url)

    async def handler(job: RunJob) -> None:
        await log.rpush(f"{prefix}:log", f"start:{job.run_id}:{job.attempt}")
        await asyncio.sleep(seconds)
        await log.rpush(f"{prefix}:log", f"end:{job.run_id}")

    worker = TaskiqRedisWorker(settings, handler, concurrency=10)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
