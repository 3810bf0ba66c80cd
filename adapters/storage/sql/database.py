"""`Database`: the service's database — its repositories, its migrations, its life cycle.

One object per process opens the engine (lazily: nothing connects until the first query)
and hands out the repositories that implement the service's ports. Migrations are Alembic
scripts shipped inside this package (``migrations/``) and run programmatically on the
engine's own connection, so no ``alembic.ini`` is needed at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from adapters.storage.sql.conversations import SQLConversationRepository
from adapters.storage.sql.engine import SQLEngine
from adapters.storage.sql.events import DEFAULT_POLL_INTERVAL, SQLEventLog
from adapters.storage.sql.messages import SQLConversationStore
from adapters.storage.sql.repositories import SQLAgentRepository, SQLUserRepository
from domain.errors import StorageError

__all__ = ["MIGRATIONS", "Database"]

MIGRATIONS = Path(__file__).parent / "migrations"
"""The Alembic script folder shipped with the package."""

_MIGRATION_LOCK = 7_263_950_121
"""A PostgreSQL advisory lock id: two processes upgrading at once take turns."""


class Database:
    """The service database: users, agents, conversations, messages and events.

    Args:
        url: a database URL in any form `database_url` accepts.
        schema: a PostgreSQL schema to keep the tables in (tests use one per session);
            `upgrade` creates it when missing.
        event_poll_interval: seconds between re-reads while `events.wait` waits, to see
            events other processes append (listeners in this process are woken at once).
        max_connections: the most connections this process keeps open (``cw worker`` and
            ``cw serve`` take ``CW_DATABASE_MAX_CONNECTIONS``): a cluster's processes share
            PostgreSQL's ``max_connections``.

    Raises:
        ConfigError: the URL cannot be used.
        StorageError: the SQLite file cannot be created.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        event_poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_connections: int = 40,
    ) -> None:
        self.sql = SQLEngine(url, schema=schema, max_connections=max_connections)
        self.url = self.sql.url
        self.users = SQLUserRepository(self.sql)
        self.agents = SQLAgentRepository(self.sql)
        self.conversations = SQLConversationRepository(self.sql)
        self.messages = SQLConversationStore(self.sql)
        self.events = SQLEventLog(self.sql, poll_interval=event_poll_interval)

    def describe(self) -> str:
        """``SQLite file /path/cw.db`` or ``PostgreSQL at host:port/db`` (never a password)."""
        return self.sql.description

    @staticmethod
    def head_revision() -> str:
        """The newest migration this program ships."""
        head = ScriptDirectory.from_config(_config()).get_current_head()
        if head is None:  # pragma: no cover - the package ships its migrations
            raise StorageError("no migrations are shipped with this installation; reinstall chinese-worker")
        return head

    async def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (all of them by default).

        Raises:
            StorageError: the database is unreachable, or ``revision`` is unknown, or the
                database was migrated by a newer version of this program.
        """
        await self._migrate("upgrade the database", command.upgrade, revision)

    async def downgrade(self, revision: str) -> None:
        """Undo migrations down to ``revision`` (``base``: an empty database)."""
        await self._migrate("downgrade the database", command.downgrade, revision)

    async def current_revision(self) -> str | None:
        """The revision the database is at; ``None`` when it was never migrated."""
        async with self.sql.transaction("read the schema revision") as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def _migrate(self, action: str, step: Any, revision: str) -> None:
        try:
            async with self.sql.transaction(action, write=True) as connection:
                if not self.sql.is_sqlite:
                    await connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK}
                    )
                    if self.sql.schema is not None:
                        await connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.sql.schema}"'))
                await connection.run_sync(lambda sync: step(_config(sync), revision))
        except CommandError as exc:
            raise StorageError(
                f"could not {action} ({self.describe()}) to {revision!r}: {exc}; "
                f"this program knows the revisions up to {self.head_revision()!r} and 'base'"
            ) from exc

    async def aclose(self) -> None:
        """Close every connection; the database must not be used afterwards."""
        await self.events.aclose()
        await self.sql.aclose()

    def __repr__(self) -> str:
        return f"Database({self.describe()})"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config
