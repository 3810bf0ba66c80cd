"""`database_url` and `describe_url`: the accepted URL forms, the default file, and safe errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.storage.sql import database_url, default_sqlite_path
from adapters.storage.sql.url import describe_url
from domain.errors import ConfigError


def test_no_url_means_the_default_file_in_the_data_folder(tmp_path: Path) -> None:
    environ = {"XDG_DATA_HOME": str(tmp_path)}
    assert default_sqlite_path(environ) == tmp_path / "chinese-worker" / "cw.db"
    assert database_url(environ=environ) == f"sqlite+aiosqlite:///{tmp_path}/chinese-worker/cw.db"
    assert database_url("", environ=environ) == database_url(None, environ=environ)


def test_without_xdg_data_home_the_file_is_under_local_share(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_sqlite_path({}) == tmp_path / ".local" / "share" / "chinese-worker" / "cw.db"


def test_cw_database_url_overrides_the_default(tmp_path: Path) -> None:
    environ = {"CW_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "XDG_DATA_HOME": "/elsewhere"}
    assert database_url(environ=environ) == f"sqlite+aiosqlite:///{tmp_path}/x.db"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u:pw@db.example:5433/cw", "postgresql+asyncpg://u:pw@db.example:5433/cw"),
        ("postgres://u@db/cw", "postgresql+asyncpg://u@db/cw"),
        ("postgresql+asyncpg://u@db/cw", "postgresql+asyncpg://u@db/cw"),
        ("postgresql+psycopg://u@db/cw", "postgresql+asyncpg://u@db/cw"),
        ("postgresql://u@db/cw?sslmode=require", "postgresql+asyncpg://u@db/cw?ssl=require"),
    ],
)
def test_postgres_urls_get_the_async_driver(raw: str, expected: str) -> None:
    assert database_url(raw) == expected


@pytest.mark.parametrize("raw", ["sqlite:///{p}", "sqlite+aiosqlite:///{p}", "sqlite+pysqlite:///{p}"])
def test_sqlite_urls_get_aiosqlite_and_an_absolute_path(raw: str, tmp_path: Path) -> None:
    assert database_url(raw.format(p=tmp_path / "a.db")) == f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"


def test_a_relative_sqlite_path_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url("sqlite:///rel/cw.db") == f"sqlite+aiosqlite:///{tmp_path}/rel/cw.db"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:hunter2secret@db/cw", "not supported"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://u:hunter2secret@db", "names no PostgreSQL database"),
    ],
)
def test_unusable_urls_are_config_errors_naming_the_variable_without_the_password(
    raw: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        database_url(raw)
    assert "CW_DATABASE_URL" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


def test_describe_never_shows_a_password(tmp_path: Path) -> None:
    assert describe_url(database_url("postgresql://u:hunter2secret@db.example:5433/cw")) == (
        "PostgreSQL at db.example:5433/cw"
    )
    assert describe_url(database_url(f"sqlite:///{tmp_path}/cw.db")) == f"SQLite file {tmp_path}/cw.db"
