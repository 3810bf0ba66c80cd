"""``cw db upgrade | downgrade | current | seed`` and ``cw token create``: the service database by hand.

The database is the one ``CW_DATABASE_URL`` names (environment or ``.env``), or the default
SQLite file (``~/.local/share/chinese-worker/cw.db``); see docs/database.md. ``seed`` and
``token create`` first apply pending migrations, as ``cw serve`` does, so they work on a
fresh database. Failures are `AgentError`s, so ``main`` prints one line and exits non-zero:
a URL we cannot use is a `ConfigError` (3), an unreachable or broken database a
`StorageError` (25). Neither ever shows a password.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from adapters.cli.app import CliApp

if TYPE_CHECKING:
    from adapters.storage.sql import Database

__all__ = ["db", "token"]

T = TypeVar("T")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _note(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _with_database(app: CliApp, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the configured database, run ``work(db)``, close it."""
    from adapters.storage.sql import Database, database_url

    url = database_url(environ=app.settings().environ)

    async def run() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.aclose()

    return asyncio.run(run())


def _move_and_report(app: CliApp, move: Callable[[Database], Awaitable[None]], *, none: str) -> None:
    """Run a migration ``move``, then print the revision the database is at (``none`` for no revision)."""

    async def work(database: Database) -> str:
        await move(database)
        current = await database.current_revision()
        return f"{database.describe()} is at revision {current or none}"

    _out(_with_database(app, work))


@click.group()
def db() -> None:
    """Migrate and seed the service database (CW_DATABASE_URL, default: a SQLite file)."""


@db.command()
@click.argument("revision", default="head")
@click.pass_obj
def upgrade(app: CliApp, revision: str) -> None:
    """Apply the migrations up to REVISION (default: all of them)."""
    _move_and_report(app, lambda database: database.upgrade(revision), none="None")


@db.command()
@click.argument("revision")
@click.pass_obj
def downgrade(app: CliApp, revision: str) -> None:
    """Undo migrations down to REVISION ('base' removes every table, and all data with them)."""
    _move_and_report(app, lambda database: database.downgrade(revision), none="base (empty)")


@db.command()
@click.pass_obj
def current(app: CliApp) -> None:
    """Print the revision the database is at ('none' when it was never migrated)."""

    async def work(database: Database) -> str:
        return str(await database.current_revision() or "none")

    _out(_with_database(app, work))


@db.command()
@click.option("--email", help="Whose agents they are (created when missing). Default: demo@example.com.")
@click.pass_obj
def seed(app: CliApp, email: str | None) -> None:
    """Add the example agents (Hugging Face, Ollama, fake) unless they are already there."""
    from adapters.storage.sql.seed import seed as seed_agents

    async def work(database: Database) -> str:
        await database.upgrade()
        result = await seed_agents(database, owner_email=email)
        owner = result.owner.email
        if not result.created:
            return f"nothing to do: the {len(result.agents)} example agents of {owner} are already there"
        made = ", ".join(f"{name!r}" for name in result.created)
        return f"added {len(result.created)} example agents for {owner}: {made}"

    _out(_with_database(app, work))


@click.group()
def token() -> None:
    """API tokens for the HTTP service."""


@token.command("create")
@click.option("--email", required=True, help="The user the token authenticates (created when missing).")
@click.option("--name", help="The user's name, when the user is created (default: the email's local part).")
@click.pass_obj
def create_token(app: CliApp, email: str, name: str | None) -> None:
    """Create a token for EMAIL and print it, as the only line of stdout (only its hash is kept)."""
    from adapters.auth import hash_token, new_token
    from adapters.storage.sql.seed import user_for_email

    email = email.strip()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="'--email'")

    async def work(database: Database) -> str:
        await database.upgrade()
        users = database.users
        user, created = await user_for_email(users, email, name)
        if created:
            _note(f"created user {email} (no password: it signs in with tokens)")
        secret = new_token()
        await users.add_token(user_id=user.id, token_hash=hash_token(secret), name="cw token create")
        return secret

    _out(_with_database(app, work))
