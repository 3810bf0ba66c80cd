"""Databases for the storage tests: a migrated SQLite file per test, and a PostgreSQL schema per session.

PostgreSQL is the server ``CW_TEST_POSTGRES_URL`` names (default
``postgresql://postgres@127.0.0.1:5432/test``). The session makes a schema of its own,
migrates it once and drops it at the end; each test starts from empty tables. When the server
cannot be reached the PostgreSQL tests are skipped with the reason, except under ``CI=true``,
where they fail: CI must run them.

SQLite tests copy a file migrated once per session, so each test gets a fresh database
without paying for the migrations again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.storage.sql import Database, database_url
from adapters.storage.sql.models import Base

# Read at import: the autouse fixture of tests/conftest.py hides every CW_ variable from tests.
POSTGRES_URL = os.environ.get("CW_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"

SQL_BACKENDS = ("sqlite", "postgres")

TEST_CONNECTIONS = 6
"""Connections per test database: enough for real races, few enough that the machine's
PostgreSQL (100 clients, shared with every other test and server running) is not exhausted."""


@attrs.define
class SQLTargets:
    """What the session prepared: a migrated SQLite template and, when reachable, a PostgreSQL schema."""

    sqlite_template: Path
    postgres_schema: str | None = None
    postgres_problem: str | None = None

    def require_postgres(self) -> str:
        """The session's schema, or skip (fail under CI) saying why PostgreSQL is unavailable."""
        if self.postgres_schema is None:
            message = f"PostgreSQL at CW_TEST_POSTGRES_URL is unavailable: {self.postgres_problem}"
            if IN_CI:
                pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
            pytest.skip(message)
        return self.postgres_schema


async def _prepare_postgres(schema: str) -> None:
    db = Database(POSTGRES_URL, schema=schema, max_connections=2)
    try:
        await db.upgrade()
    finally:
        await db.aclose()


async def _drop_schema(schema: str) -> None:
    engine = create_async_engine(database_url(POSTGRES_URL))
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


async def _prepare_sqlite(path: Path) -> None:
    db = Database(f"sqlite:///{path}")
    try:
        await db.upgrade()
    finally:
        await db.aclose()


@pytest.fixture(scope="session")
def sql_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLTargets]:
    template = tmp_path_factory.mktemp("sql-template") / "cw.db"
    asyncio.run(_prepare_sqlite(template))
    targets = SQLTargets(sqlite_template=template)
    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_prepare_postgres(schema))
        targets.postgres_schema = schema
    except Exception as exc:  # any failure to reach or migrate it: report it, then skip or fail
        targets.postgres_problem = f"{type(exc).__name__}: {exc}"
    yield targets
    if targets.postgres_schema is not None:
        asyncio.run(_drop_schema(schema))


@contextlib.asynccontextmanager
async def open_database(
    backend: str, targets: SQLTargets, folder: Path, *, event_poll_interval: float = 1.0
) -> AsyncIterator[Database]:
    """A migrated, empty database of kind ``backend`` (``sqlite`` or ``postgres``), closed afterwards."""
    if backend == "sqlite":
        path = folder / f"cw-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(targets.sqlite_template, path)
        db = Database(
            f"sqlite:///{path}", event_poll_interval=event_poll_interval, max_connections=TEST_CONNECTIONS
        )
    elif backend == "postgres":
        db = Database(
            POSTGRES_URL,
            schema=targets.require_postgres(),
            event_poll_interval=event_poll_interval,
            max_connections=TEST_CONNECTIONS,
        )
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with db.sql.engine.begin() as connection:
            await connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        raise ValueError(f"unknown SQL backend {backend!r}")
    try:
        yield db
    finally:
        await db.aclose()


@pytest.fixture(params=SQL_BACKENDS)
async def database(
    request: pytest.FixtureRequest, sql_targets: SQLTargets, tmp_path: Path
) -> AsyncIterator[Database]:
    """A migrated, empty `Database`, once on SQLite and once on PostgreSQL."""
    async with open_database(request.param, sql_targets, tmp_path) as db:
        yield db
