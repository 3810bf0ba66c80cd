"""Alembic's environment for the service database.

`Database.upgrade` runs migrations programmatically on a connection it already holds and
hands it over in ``config.attributes["connection"]``; no ``alembic.ini`` is needed. Run by
hand (``alembic -c <ini> …`` with ``script_location`` pointing here, e.g. to autogenerate a
new revision), this file opens its own connection to ``sqlalchemy.url`` or, when that is
unset, to the database `database_url` picks (``CW_DATABASE_URL`` or the default file).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.storage.sql.models import Base
from adapters.storage.sql.url import database_url

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_own_connection() -> None:
    engine = create_async_engine(database_url(config.get_main_option("sqlalchemy.url")), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=database_url(config.get_main_option("sqlalchemy.url")),
            target_metadata=target_metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    shared: Any = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
    else:
        asyncio.run(_run_own_connection())


_main()
