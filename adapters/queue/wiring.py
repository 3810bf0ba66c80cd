"""How the scale-out adapters are built from settings, for ``cw serve --queue`` and ``cw worker``.

Settings (besides ``CW_QUEUE_URL`` itself, a ``redis://`` or ``rediss://`` URL):

- ``CW_QUEUE_PREFIX`` (default ``cw``): the Redis key prefix, so several deployments can
  share one Redis;
- ``CW_QUEUE_MAX_DELIVERIES`` (default 3): executions of a run before it ends ``failed``;
- ``CW_QUEUE_REDELIVERY_AFTER`` (default 30 s): how long a job of a silent worker waits
  before another worker takes it over;
- ``CW_WORKER_CONCURRENCY`` (default 100): runs one ``cw worker`` executes at once;
- ``CW_DATABASE_MAX_CONNECTIONS`` (default 40): database connections one process keeps open
  at most; every process of a cluster shares PostgreSQL's ``max_connections`` (100 by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from adapters.events.redis_streams import RedisStreamsEventLog
from adapters.queue.taskiq_redis import GiveUp, RedisQueueSettings, TaskiqRedisRunQueue
from application.service.execute_run import record_run_end
from domain.errors import ConfigError
from domain.events import RunStatus
from domain.ports import ConversationRepositoryPort, EventLogPort
from domain.service import RunJob, RunStats

if TYPE_CHECKING:
    from adapters.storage.sql import Database

__all__ = [
    "DEFAULT_CONCURRENCY",
    "database_connections",
    "give_up_recorder",
    "open_queue_and_events",
    "queue_settings",
    "worker_concurrency",
]

DEFAULT_CONCURRENCY = 100
_SCHEMES = ("redis", "rediss", "unix")


def _number(environ: Mapping[str, str | None], name: str, default: float, *, minimum: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be a number of at least {minimum:g}")
    return value


def queue_settings(url: str, environ: Mapping[str, str | None] | None = None) -> RedisQueueSettings:
    """The queue settings for ``url`` and the ``CW_QUEUE_*`` variables in ``environ``.

    Raises:
        ConfigError: the URL is not a Redis URL, or a setting is out of range.
    """
    environ = environ or {}
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"CW_QUEUE_URL must be a Redis URL (redis://host:port/db), not a {scheme or 'schemeless'} URL"
        )
    prefix = (environ.get("CW_QUEUE_PREFIX") or "cw").strip()
    if not prefix or any(c.isspace() for c in prefix):
        raise ConfigError("CW_QUEUE_PREFIX must be a word without spaces, e.g. cw")
    redelivery_after = _number(environ, "CW_QUEUE_REDELIVERY_AFTER", 30.0, minimum=0.5)
    return RedisQueueSettings(
        url=url,
        prefix=prefix,
        max_deliveries=int(_number(environ, "CW_QUEUE_MAX_DELIVERIES", 3, minimum=1)),
        redelivery_after=redelivery_after,
        # A dead worker's job is taken over once both its lease and the redelivery delay ran
        # out; a live worker renews its lease every third of it, and at least 3 s leave room for
        # a busy event loop (a lease lost while its run goes on would let the run execute twice).
        lease=min(10.0, max(3.0, redelivery_after / 2)),
    )


def database_connections(environ: Mapping[str, str | None] | None = None) -> int:
    """``CW_DATABASE_MAX_CONNECTIONS`` (default 40): connections one process keeps open at most."""
    return int(_number(environ or {}, "CW_DATABASE_MAX_CONNECTIONS", 40, minimum=1))


def worker_concurrency(environ: Mapping[str, str | None] | None = None) -> int:
    """``CW_WORKER_CONCURRENCY`` (default 100)."""
    return int(_number(environ or {}, "CW_WORKER_CONCURRENCY", DEFAULT_CONCURRENCY, minimum=1))


async def open_queue_and_events(
    settings: RedisQueueSettings, db: Database
) -> tuple[TaskiqRedisRunQueue, RedisStreamsEventLog]:
    """The API side of the queue, and the event log on Redis Streams over the database's log."""
    events = RedisStreamsEventLog(settings.url, durable=db.events, prefix=settings.prefix)
    return TaskiqRedisRunQueue(settings), events


def give_up_recorder(conversations: ConversationRepositoryPort, events: EventLogPort) -> GiveUp:
    """Ends a run past its delivery limit as ``failed``, with its terminal event."""

    async def give_up(job: RunJob, error: str) -> None:
        await record_run_end(
            conversations,
            events,
            job.conversation_id,
            job.run_id,
            RunStatus.FAILED,
            stats=RunStats(),
            error=error,
        )

    return give_up
