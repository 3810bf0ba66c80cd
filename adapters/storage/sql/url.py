"""Where the service's database is: `database_url` picks it, `describe_url` names it safely.

``CW_DATABASE_URL`` takes SQLAlchemy URLs (``sqlite+aiosqlite:///path``,
``postgresql+asyncpg://…``) and the plain forms people type (``sqlite:///path``,
``postgresql://…``, ``postgres://…``); the async driver is picked here, once. Without it the
database is a SQLite file in the user's data folder (`default_sqlite_path`). Nothing here
connects; a URL we cannot use is a `ConfigError` that names the variable and never echoes a
password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from domain.errors import ConfigError

__all__ = ["ENV_VAR", "database_url", "default_sqlite_path", "describe_url"]

ENV_VAR = "CW_DATABASE_URL"

_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}
_EXAMPLES = "e.g. sqlite:///path/to/cw.db or postgresql://user:password@host:5432/dbname"


def default_sqlite_path(environ: Mapping[str, str] | None = None) -> Path:
    """The database file used when no URL is configured.

    ``$XDG_DATA_HOME/chinese-worker/cw.db``, i.e. ``~/.local/share/chinese-worker/cw.db``
    when ``XDG_DATA_HOME`` is unset.
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "chinese-worker" / "cw.db"


def database_url(raw: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy async URL of the database to use.

    Args:
        raw: a URL in any accepted form; ``None`` (or empty) reads ``CW_DATABASE_URL`` from
            ``environ`` and falls back to the default SQLite file.
        environ: the environment to read; ``None`` means ``os.environ``.

    Returns:
        ``sqlite+aiosqlite:///<absolute path>`` or ``postgresql+asyncpg://…``.

    Raises:
        ConfigError: the URL is malformed, names another database kind, or is an in-memory
            SQLite database (which a service cannot share between connections).
    """
    env = os.environ if environ is None else environ
    if not raw:
        raw = env.get(ENV_VAR, "").strip()
    if not raw:
        return _sqlite_url(default_sqlite_path(env))
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{ENV_VAR} is not a database URL we can read; use a URL {_EXAMPLES}") from None
    driver = url.drivername.lower()
    if driver in _SQLITE_DRIVERS:
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise ConfigError(
                f"{ENV_VAR} names an in-memory SQLite database, which the service cannot share "
                "between connections; give a file, e.g. sqlite:///path/to/cw.db"
            )
        return _sqlite_url(Path(url.database))
    if driver in _POSTGRES_DRIVERS:
        if not url.database:
            raise ConfigError(f"{ENV_VAR} names no PostgreSQL database; add it to the URL, {_EXAMPLES}")
        query = dict(url.query)
        # libpq's sslmode means nothing to asyncpg; its ``ssl`` option takes the same values.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        pg: URL = url.set(drivername="postgresql+asyncpg", query=query)
        return pg.render_as_string(hide_password=False)
    raise ConfigError(
        f"{ENV_VAR} uses {url.drivername!r}, which is not supported; use SQLite or PostgreSQL, {_EXAMPLES}"
    )


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.expanduser().resolve()}"


def describe_url(url: str) -> str:
    """``SQLite file /path/cw.db`` or ``PostgreSQL at host:port/db``: never a password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"PostgreSQL at {host}{port}/{parsed.database}"
