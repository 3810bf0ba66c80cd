"""`adapters.auth`: tokens are random and long, only hashes are kept, passwords use argon2."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import auth
from adapters.auth import TOKEN_PREFIX, hash_password, hash_token, new_token, verify_password


def test_tokens_are_prefixed_random_and_long() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert len(token) - len(TOKEN_PREFIX) >= 43  # 32 bytes, URL-safe base64
        assert token.isascii()


def test_a_token_hash_is_its_sha256_and_not_the_token() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in digest
    assert hash_token(token) == digest


def test_a_password_verifies_against_its_argon2_hash_only() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert hash_password("correct horse battery") != hashed  # salted
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("correct horse batter", hashed)


@given(st.text(max_size=40))
def test_verify_never_raises_and_refuses_missing_or_broken_hashes(password: str) -> None:
    assert verify_password(password, None) is False
    assert verify_password(password, "") is False
    assert verify_password(password, "not-a-hash") is False
    assert verify_password(password, "$argon2id$v=19$m=65536,t=3,p=4$broken") is False


def test_no_hash_still_costs_a_verify_so_unknown_emails_answer_as_slowly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A login for an email nobody registered has no hash; skipping argon2 for it would make
    # the reply measurably faster, telling an attacker which emails have accounts.
    verified: list[str] = []
    real = auth._HASHER

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            verified.append(hashed)
            return real.verify(hashed, password)

    monkeypatch.setattr(auth, "_HASHER", Counting())
    assert not verify_password("correct horse battery", None)
    assert not verify_password("", "")
    assert len(verified) == 2
    assert all(hashed.startswith("$argon2id$") for hashed in verified)
