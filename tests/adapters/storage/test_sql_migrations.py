"""The shipped Alembic migrations: empty → head → base → head, and models and migrations agree.

Both on SQLite and on PostgreSQL (a schema of its own per test, dropped afterwards).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.storage.sql import Database
from adapters.storage.sql.models import Base
from domain.errors import StorageError
from tests.adapters.storage.conftest import POSTGRES_URL, SQLTargets, _drop_schema

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
async def empty(
    request: pytest.FixtureRequest, sql_targets: SQLTargets, tmp_path: Path
) -> AsyncIterator[Database]:
    """A database that was never migrated."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        try:
            yield db
        finally:
            await db.aclose()
        return
    sql_targets.require_postgres()
    schema = f"cw_mig_{uuid.uuid4().hex[:12]}"
    db = Database(POSTGRES_URL, schema=schema, max_connections=2)
    try:
        yield db
    finally:
        await db.aclose()
        await _drop_schema(schema)


async def _tables(db: Database) -> set[str]:
    async with db.sql.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def _differences(db: Database) -> list[object]:
    async with db.sql.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )


SERVICE_TABLES = {table.name for table in Base.metadata.sorted_tables}


async def test_empty_to_head_to_base_to_head(empty: Database) -> None:
    assert await empty.current_revision() is None
    await empty.upgrade()
    assert await empty.current_revision() == Database.head_revision()
    assert await _tables(empty) >= SERVICE_TABLES
    await empty.downgrade("base")
    assert await empty.current_revision() is None
    assert not SERVICE_TABLES & await _tables(empty)
    await empty.upgrade("head")
    assert await empty.current_revision() == Database.head_revision()
    user = await empty.users.create_user(name="After", email="after@example.org", password_hash=None)
    assert await empty.users.user_by_email("after@example.org") == (user, None)


async def test_upgrading_twice_changes_nothing(empty: Database) -> None:
    await empty.upgrade()
    await empty.users.create_user(name="Kept", email="kept@example.org", password_hash=None)
    await empty.upgrade()
    assert await empty.users.user_by_email("kept@example.org") is not None


async def test_models_and_migrations_agree(empty: Database) -> None:
    await empty.upgrade()
    assert await _differences(empty) == []


async def test_an_unknown_revision_is_a_storage_error_naming_the_known_ones(empty: Database) -> None:
    await empty.upgrade()
    with pytest.raises(StorageError, match="knows the revisions up to"):
        await empty.downgrade("not-a-revision")
    assert await empty.current_revision() == Database.head_revision()


async def test_a_database_from_a_newer_program_is_refused_clearly(empty: Database) -> None:
    await empty.upgrade()
    async with empty.sql.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(StorageError, match="could not upgrade the database"):
        await empty.upgrade()


def test_the_migrations_ship_with_the_package() -> None:
    from adapters.storage.sql.database import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))
    pyproject = (Path(__file__).parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"migrations/versions/*.py"' in pyproject
