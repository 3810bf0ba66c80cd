"""``cw worker``: execute queued runs, next to any number of ``cw serve --queue`` processes.

A worker builds the same service as ``cw serve`` (database, backends, tools, `ExecuteRun`),
with the Redis event log, and serves the run queue with it: up to ``--concurrency`` runs at
once as tasks of one event loop. SIGINT/SIGTERM stop taking jobs and cancel the runs in
flight (each ends ``cancelled`` with its event); a SIGKILLed worker's runs are delivered to
another worker. Every process must share one database (``CW_DATABASE_URL``, PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import click

from adapters.cli.app import CliApp
from adapters.settings import Settings
from domain.errors import ConfigError
from domain.ports import EventLogPort, RunHandler, RunQueuePort

__all__ = ["queue_url_from", "worker"]


def queue_url_from(option: str | None, settings: Settings, command: str) -> str:
    """The queue URL from ``--queue`` or ``CW_QUEUE_URL``; `ConfigError` when neither is set."""
    url = option or settings.get("CW_QUEUE_URL")
    if not url:
        raise ConfigError(
            f"{command} needs a run queue: pass --queue redis://HOST:6379/0 or set CW_QUEUE_URL"
        )
    return url


@click.command()
@click.option("--queue", "queue_url", metavar="URL", help="Redis URL of the run queue [env: CW_QUEUE_URL].")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Runs this process executes at once [env: CW_WORKER_CONCURRENCY; default: 100].",
)
@click.pass_obj
def worker(app: CliApp, queue_url: str | None, concurrency: int | None) -> int:
    """Execute queued runs (start any number of these next to `cw serve --queue`)."""
    settings = app.settings()
    url = queue_url_from(queue_url, settings, "cw worker")
    return asyncio.run(_serve(settings, url, concurrency))


async def _serve(settings: Settings, url: str, concurrency: int | None) -> int:
    from adapters.queue.taskiq_redis import TaskiqRedisWorker, redis_location
    from adapters.queue.wiring import (
        database_connections,
        give_up_recorder,
        open_queue_and_events,
        queue_settings,
        worker_concurrency,
    )
    from adapters.service import build_service
    from adapters.storage.sql import Database, database_url

    queue_config = queue_settings(url, settings.environ)
    runs = concurrency or worker_concurrency(settings.environ)
    db = Database(
        database_url(settings.get("CW_DATABASE_URL")), max_connections=database_connections(settings.environ)
    )
    await db.upgrade()  # several processes may start at once: the upgrade takes a lock

    async def factory(handler: RunHandler) -> tuple[RunQueuePort, EventLogPort | None]:
        return await open_queue_and_events(queue_config, db)

    service = await build_service(settings, db=db, queue_factory=factory)
    runner = TaskiqRedisWorker(
        queue_config,
        service.run_handler,
        concurrency=runs,
        give_up=give_up_recorder(db.conversations, service.events),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, runner.stop)
    sys.stderr.write(
        f"cw worker: up to {runs} runs at once from Redis at {redis_location(url)} "
        f"(prefix {queue_config.prefix}); database: {db.describe()}\n"
    )
    sys.stderr.flush()
    try:
        await runner.run()
    finally:
        await service.aclose()
    sys.stderr.write(f"cw worker: stopped after {runner.executed} runs\n")
    return 0
