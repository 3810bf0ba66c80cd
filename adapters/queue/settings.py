"""Where the Redis run queue lives and how patient it is: `RedisQueueSettings`, shared by the
queue, its workers and the stream broker."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["UNAVAILABLE", "RedisQueueSettings", "redis_client", "redis_location"]

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
"""What Redis raises when it cannot be reached."""


def redis_location(url: str) -> str:
    """``host:port/db`` of a Redis URL, without user or password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 6379
    db = parts.path.lstrip("/") or "0"
    return f"{host}:{port}/{db}"


@attrs.frozen(kw_only=True)
class RedisQueueSettings:
    """Where the queue lives and how patient it is."""

    url: str = attrs.field(repr=lambda url: redis_location(url))
    """A ``redis://`` URL; its repr shows only host, port and database (never a password)."""
    prefix: str = "cw"
    """Every key and channel starts with this (tests use their own)."""
    max_deliveries: int = 3
    """Executions of one job before it ends as failed (a worker dying mid-run costs one)."""
    redelivery_after: float = 30.0
    """Seconds a job may stay unacknowledged by a silent worker before another takes it over."""
    lease: float = 10.0
    """Seconds a worker's claim on a run lasts without renewal (renewed every third of it)."""
    connect_timeout: float = 2.0
    """Seconds to wait for Redis before answering that the queue is unavailable."""
    cancel_wait: float = 5.0
    """The most seconds `TaskiqRedisRunQueue.cancel` waits for a running run to record its end."""

    @property
    def stream(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def group(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def cancel_channel(self) -> str:
        return f"{self.prefix}:cancel"

    def run_key(self, conversation_id: str) -> str:
        return f"{self.prefix}:run:{conversation_id}"

    def lease_key(self, run_id: str) -> str:
        return f"{self.prefix}:lease:{run_id}"

    def attempts_key(self, run_id: str) -> str:
        return f"{self.prefix}:attempts:{run_id}"

    def cancel_key(self, run_id: str) -> str:
        return f"{self.prefix}:cancel:{run_id}"


def redis_client(url: str, *, connect_timeout: float = 2.0) -> Redis:
    """A client for ``url`` on a pool of at most 64 connections, shared by every command."""
    # A blocking pool: a thousand runs starting at once wait for a connection instead of
    # failing with redis-py's "Too many connections" (its default pools stop at 100).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=20,
        socket_connect_timeout=connect_timeout,
        socket_timeout=max(10.0, connect_timeout),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
