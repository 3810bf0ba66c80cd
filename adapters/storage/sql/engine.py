"""`SQLEngine`: one async SQLAlchemy engine, its transactions, and its errors as `StorageError`s.

Every repository of a `Database` shares one `SQLEngine`. It knows the two dialects apart
where they differ:

- SQLite (aiosqlite) runs in WAL mode, so readers never wait for a writer, with a busy
  timeout, so concurrent writers queue instead of failing. Write transactions start with
  ``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes later could
  otherwise fail at once with "database is locked" when another writer got there first.
  Within one process, write transactions also take turns on an ``asyncio.Lock``: SQLite has
  one writer anyway, and its busy handler waits by sleeping, so 200 runs writing at once
  spent more time asleep than writing (``bench.service``: 25 s → 14 s for the same work).
- PostgreSQL (asyncpg) may run in a schema of its own (tests), set as the ``search_path``
  of every connection so the models and migrations need no schema name.

Foreign exceptions stop here: a failure leaves as a `StorageError` naming the action and the
database (never its password), or a `DuplicateError` for a unique key already taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from adapters.storage.sql.url import database_url, describe_url
from domain.errors import DuplicateError, StorageError

__all__ = ["SQLEngine", "as_utc", "utc_now"]

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another one before giving up."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A timestamp read back from the database, timezone-aware (SQLite keeps none)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class SQLEngine:
    """The engine behind a `Database`, with transactions that map errors.

    Args:
        url: any URL `database_url` accepts.
        schema: a PostgreSQL schema to work in (created when missing by `Database.upgrade`'s
            caller; tests make one per session). Refused on SQLite.
    """

    def __init__(self, url: str, *, schema: str | None = None, max_connections: int = 40) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.url = database_url(url)
        parsed = make_url(self.url)
        self.password = parsed.password or ""
        self.dialect = parsed.get_backend_name()
        self.description = describe_url(self.url)
        self.schema = schema
        if schema is not None:
            if self.dialect != "postgresql":
                raise StorageError("a schema can only be chosen on PostgreSQL")
            if not _SCHEMA_NAME.match(schema):
                raise StorageError(f"{schema!r} is not a plain schema name (letters, digits, _)")
        self.engine = self._create_engine()
        self._write_turns: asyncio.Lock | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _create_engine(self) -> AsyncEngine:
        if self.is_sqlite:
            path = Path(make_url(self.url).database or "")
            _create_private_file(path)
            engine = create_async_engine(
                self.url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                **self._pool(),
            )
            _configure_sqlite(engine)
            return engine
        connect_args: dict[str, Any] = {"timeout": 10}
        if self.schema is not None:
            connect_args["server_settings"] = {"search_path": self.schema}
        return create_async_engine(self.url, connect_args=connect_args, **self._pool())

    def _pool(self) -> dict[str, int]:
        # PostgreSQL refuses clients past its max_connections (100 by default), shared by every
        # process of a cluster: each process keeps at most ``max_connections`` open.
        size = min(10, self.max_connections)
        return {"pool_size": size, "max_overflow": self.max_connections - size}

    @asynccontextmanager
    async def transaction(
        self, action: str, *, write: bool = False, duplicate: str | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends without an error.

        Args:
            action: what is being done, for the error message ("save a message").
            write: the transaction writes (SQLite then takes the write lock up front).
            duplicate: the message of the `DuplicateError` a unique-key violation becomes;
                ``None`` makes it a plain `StorageError`.
        """
        turn: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
        if write and self.is_sqlite:
            if self._write_turns is None:
                self._write_turns = asyncio.Lock()
            turn = self._write_turns
        try:
            async with turn, self.engine.connect() as connection:
                if write and self.is_sqlite:
                    await connection.execution_options(cw_immediate=True)
                async with connection.begin():
                    yield connection
        except sa.exc.IntegrityError as exc:
            reason = self.reason(exc)
            if duplicate is not None and ("unique" in reason.lower() or "duplicate key" in reason.lower()):
                raise DuplicateError(duplicate) from exc
            raise StorageError(f"could not {action} ({self.description}): {reason}") from exc
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise self.error(action, exc) from exc

    def error(self, action: str, exc: BaseException) -> StorageError:
        """The `StorageError` for ``exc``, raised while doing ``action``."""
        return StorageError(
            f"could not {action} ({self.description}): {self.reason(exc)}; "
            "check CW_DATABASE_URL, that the database is reachable, and that it is migrated (cw db upgrade)"
        )

    def reason(self, exc: BaseException) -> str:
        """The cause in one line, without SQL parameters (they may hold hashes) or password."""
        cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
        text = " ".join(str(cause).split()) or type(cause).__name__
        text = re.sub(r"^<class '[\w.]+'>: ", "", text)
        if self.password:
            text = text.replace(self.password, "***")
        return text[:300]

    def insert_ignoring_conflict(self, table: Any, values: Mapping[str, Any], key: str) -> Any:
        """``INSERT … ON CONFLICT (key) DO NOTHING`` in this dialect."""
        if self.is_sqlite:
            return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])

    async def aclose(self) -> None:
        await self.engine.dispose()


def _create_private_file(path: Path) -> None:
    """Create the SQLite file (and its folders) readable by its owner only, when missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StorageError(
            f"cannot create the database file {str(path)!r} ({exc.strerror or exc}); "
            "check its folder's permissions or set CW_DATABASE_URL to another place"
        ) from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below), so a writer can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # With WAL this cannot corrupt the file; a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get("cw_immediate", False)
        if immediate:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
