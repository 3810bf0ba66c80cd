"""The `UserRepositoryPort` contract, on the SQL adapter over SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from adapters.auth import hash_token, new_token
from adapters.storage.sql import Database
from domain.errors import DuplicateError
from domain.ports import UserRepositoryPort

pytestmark = pytest.mark.anyio


@pytest.fixture
def users(database: Database) -> UserRepositoryPort:
    return database.users


async def test_a_created_user_is_found_by_email_whatever_its_case(users: UserRepositoryPort) -> None:
    created = await users.create_user(name="Ada", email="Ada@Example.org", password_hash="argon2-hash")
    assert created.name == "Ada"
    assert created.email == "Ada@Example.org"
    assert len(created.id) == 32
    assert created.created_at.tzinfo is not None
    assert abs(created.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    found = await users.user_by_email("ada@example.ORG")
    assert found == (created, "argon2-hash")


async def test_an_unknown_email_is_none(users: UserRepositoryPort) -> None:
    assert await users.user_by_email("nobody@example.org") is None


async def test_a_user_without_password_has_none_for_its_hash(users: UserRepositoryPort) -> None:
    created = await users.create_user(name="Bot", email="bot@example.org", password_hash=None)
    assert await users.user_by_email("bot@example.org") == (created, None)


async def test_a_taken_email_is_a_duplicate_error_whatever_its_case(users: UserRepositoryPort) -> None:
    await users.create_user(name="One", email="same@example.org", password_hash=None)
    with pytest.raises(DuplicateError, match="email"):
        await users.create_user(name="Two", email="SAME@example.org", password_hash="h")
    found = await users.user_by_email("same@example.org")
    assert found is not None
    assert found[0].name == "One"


async def test_concurrent_registrations_of_one_email_make_one_user(users: UserRepositoryPort) -> None:
    results = await asyncio.gather(
        *(users.create_user(name=f"n{i}", email="race@example.org", password_hash=None) for i in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 1
    assert all(isinstance(result, DuplicateError) for result in results if isinstance(result, BaseException))


async def test_a_token_authenticates_its_user_until_revoked(users: UserRepositoryPort) -> None:
    ada = await users.create_user(name="Ada", email="ada@example.org", password_hash=None)
    bob = await users.create_user(name="Bob", email="bob@example.org", password_hash=None)
    ada_token, bob_token = hash_token(new_token()), hash_token(new_token())
    await users.add_token(user_id=ada.id, token_hash=ada_token, name="laptop")
    await users.add_token(user_id=bob.id, token_hash=bob_token)
    assert await users.user_by_token(ada_token) == ada
    assert await users.user_by_token(bob_token) == bob
    await users.revoke_token(ada_token)
    assert await users.user_by_token(ada_token) is None
    assert await users.user_by_token(bob_token) == bob
    await users.revoke_token(ada_token)  # twice: ignored
    await users.revoke_token(hash_token("never issued"))


async def test_a_user_may_hold_several_tokens(users: UserRepositoryPort) -> None:
    ada = await users.create_user(name="Ada", email="ada@example.org", password_hash=None)
    first, second = hash_token(new_token()), hash_token(new_token())
    await users.add_token(user_id=ada.id, token_hash=first)
    await users.add_token(user_id=ada.id, token_hash=second)
    await users.revoke_token(first)
    assert await users.user_by_token(second) == ada


async def test_an_unknown_token_is_none(users: UserRepositoryPort) -> None:
    assert await users.user_by_token(hash_token(new_token())) is None
