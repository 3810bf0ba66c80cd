"""Fixtures for the Redis adapters: a key prefix per test on the test Redis, removed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from adapters.storage.sql import Database
from tests.servers import require_postgres, require_redis, unique_name


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = unique_name("cwtest")
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A migrated PostgreSQL schema of our own, dropped afterwards."""
    url = require_postgres()
    schema = unique_name("cwtest")
    db = Database(url, schema=schema)
    await db.upgrade()
    try:
        yield db
    finally:
        async with db.sql.transaction("drop the test schema", write=True) as connection:
            import sqlalchemy as sa

            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.aclose()
