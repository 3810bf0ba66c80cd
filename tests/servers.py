"""Real servers for tests: the development PostgreSQL and Redis, and throwaway Redis servers.

``CW_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``) and ``CW_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``) name them. A test needing one that is
unreachable is skipped with the reason, except under ``CI=true`` where it fails. Each test
uses its own key prefix or schema and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

__all__ = [
    "POSTGRES_URL",
    "REDIS_URL",
    "ThrowawayRedis",
    "free_port",
    "require_postgres",
    "require_redis",
    "unique_name",
]

# Read at import: the autouse fixture clearing CW_* variables runs before each test.
REDIS_URL = os.environ.get("CW_TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_URL = os.environ.get("CW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def _tcp_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_redis() -> str:
    """The test Redis URL, or skip (fail under CI) when it does not answer PING."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        _unavailable(f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__}); set CW_TEST_REDIS_URL")
    return REDIS_URL


def require_postgres() -> str:
    """The test PostgreSQL URL, or skip (fail under CI) when nothing listens there."""
    if not _tcp_reachable(POSTGRES_URL, 5432):
        parts = urlsplit(POSTGRES_URL)
        where = f"{parts.hostname}:{parts.port or 5432}"
        _unavailable(f"PostgreSQL at {where} is unreachable; set CW_TEST_POSTGRES_URL")
    return POSTGRES_URL


def unique_name(stem: str) -> str:
    """A key prefix or schema name no other test run uses."""
    return f"{stem}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayRedis:
    """A ``redis-server`` of our own on a free loopback port, to stop and start at will.

    It keeps an append-only file in ``directory``, as a production Redis should, so a
    restart finds the queued jobs again.
    """

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed (needed for the fault tests)")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _tcp_reachable(self.url, self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> ThrowawayRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
