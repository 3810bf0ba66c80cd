"""`adapters.auth`: tokens are random and long, only hashes are kept, passwords use argon2."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

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
