"""``cw db …`` and ``cw token create`` end to end, on a real SQLite file.

``main(argv, environ=…)`` runs the real commands; the database is then opened again to check
what they did. Errors must be one stderr line and a non-zero exit, never a traceback or a password.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.auth import hash_token
from adapters.storage.sql import Database
from adapters.storage.sql.seed import DEMO_EMAIL
from tests.e2e.conftest import run_cw


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"CW_DATABASE_URL": f"sqlite:///{tmp_path / 'cw.db'}"}


def inspect(environ: dict[str, str], work: Any) -> Any:
    async def scenario() -> Any:
        db = Database(environ["CW_DATABASE_URL"])
        try:
            return await work(db)
        finally:
            await db.aclose()

    return asyncio.run(scenario())


def test_upgrade_current_and_downgrade(capsys: pytest.CaptureFixture[str], environ: dict[str, str]) -> None:
    assert run_cw(capsys, ["db", "current"], environ=environ) == (0, "none\n", "")
    code, out, err = run_cw(capsys, ["db", "upgrade"], environ=environ)
    assert code == 0, err
    path = environ["CW_DATABASE_URL"].removeprefix("sqlite:///")
    assert out == f"SQLite file {path} is at revision {Database.head_revision()}\n"
    assert run_cw(capsys, ["db", "current"], environ=environ) == (0, f"{Database.head_revision()}\n", "")
    code, out, err = run_cw(capsys, ["db", "downgrade", "base"], environ=environ)
    assert code == 0, err
    assert out.endswith("is at revision base (empty)\n")
    assert run_cw(capsys, ["db", "current"], environ=environ)[1] == "none\n"


def test_without_a_url_the_database_is_the_default_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cw(capsys, ["db", "upgrade"], environ={"XDG_DATA_HOME": str(tmp_path)})
    assert code == 0, err
    assert (tmp_path / "chinese-worker" / "cw.db").is_file()
    assert (tmp_path / "chinese-worker" / "cw.db").stat().st_mode & 0o777 == 0o600  # private
    assert str(tmp_path / "chinese-worker" / "cw.db") in out


def test_seed_adds_the_example_agents_once(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str]
) -> None:
    code, out, err = run_cw(capsys, ["db", "seed"], environ=environ)
    assert code == 0, err
    assert out.startswith(f"added 3 example agents for {DEMO_EMAIL}")
    code, out, err = run_cw(capsys, ["db", "seed"], environ=environ)
    assert code == 0, err
    assert out.startswith("nothing to do")

    async def agents(db: Database) -> Any:
        found = await db.users.user_by_email(DEMO_EMAIL)
        assert found is not None
        user, password_hash = found
        assert password_hash is None
        return (await db.agents.list(user.id, page=1, per_page=10)).items

    seeded = inspect(environ, agents)
    assert sorted(agent.ai_backend for agent in seeded) == ["fake", "huggingface", "ollama"]
    (hf,) = [agent for agent in seeded if agent.ai_backend == "huggingface"]
    assert hf.model_config["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert hf.model_config["provider"] == "fastest"


def test_seed_for_a_given_owner(capsys: pytest.CaptureFixture[str], environ: dict[str, str]) -> None:
    assert run_cw(capsys, ["db", "seed", "--email", "owner@example.org"], environ=environ)[0] == 0

    async def count(db: Database) -> int:
        found = await db.users.user_by_email("owner@example.org")
        assert found is not None
        return (await db.agents.list(found[0].id, page=1, per_page=10)).total

    assert inspect(environ, count) == 3


def test_token_create_prints_only_the_token_and_stores_only_its_hash(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = run_cw(
        capsys, ["token", "create", "--email", "Ada@Example.org", "--name", "Ada L"], environ=environ
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    token = lines[0]
    assert token.startswith("cw_")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    code, out, err = run_cw(capsys, ["token", "create", "--email", "ada@example.org"], environ=environ)
    assert code == 0, err
    second = out.strip()
    assert second != token

    async def owners(db: Database) -> Any:
        first_user = await db.users.user_by_token(hash_token(token))
        second_user = await db.users.user_by_token(hash_token(second))
        return first_user, second_user, await db.users.user_by_token(token)

    first_user, second_user, by_plain = inspect(environ, owners)
    assert first_user is not None
    assert first_user == second_user
    assert (first_user.name, first_user.email) == ("Ada L", "Ada@Example.org")
    assert by_plain is None
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("cw.db*"))
    assert token.encode() not in stored
    assert second.encode() not in stored


def test_token_create_needs_an_email(capsys: pytest.CaptureFixture[str], environ: dict[str, str]) -> None:
    code, out, err = run_cw(capsys, ["token", "create", "--email", "not-an-email"], environ=environ)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "exit_code", "says"),
    [
        ("mysql://user:hunter2secret@db.example/cw", 3, "CW_DATABASE_URL"),
        ("postgresql://user:hunter2secret@127.0.0.1:1/cw", 25, "PostgreSQL at 127.0.0.1:1/cw"),
    ],
)
@pytest.mark.parametrize(
    "argv", [["db", "upgrade"], ["db", "seed"], ["token", "create", "--email", "a@b.org"]]
)
def test_database_errors_are_one_line_without_password(
    capsys: pytest.CaptureFixture[str], url: str, exit_code: int, says: str, argv: list[str]
) -> None:
    code, out, err = run_cw(capsys, argv, environ={"CW_DATABASE_URL": url})
    assert code == exit_code
    assert out == ""
    assert err.startswith("cw: error: ")
    assert err.count("\n") == 1
    assert says in err
    assert "hunter2secret" not in err
    assert "Traceback" not in err


def test_downgrade_to_an_unknown_revision_is_one_line(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str]
) -> None:
    assert run_cw(capsys, ["db", "upgrade"], environ=environ)[0] == 0
    code, out, err = run_cw(capsys, ["db", "downgrade", "nope"], environ=environ)
    assert out == ""
    assert code == 25
    assert err.count("\n") == 1
    assert "'nope'" in err


def test_a_database_file_that_cannot_be_created_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run_cw(
        capsys, ["db", "upgrade"], environ={"CW_DATABASE_URL": f"sqlite:///{blocker}/cw.db"}
    )
    assert code == 25
    assert out == ""
    assert err.count("\n") == 1
    assert "cannot create the database file" in err
    assert "CW_DATABASE_URL" in err
