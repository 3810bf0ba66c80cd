"""Secrets of the service's users: API tokens and passwords, and how only their hashes are kept.

Tokens are random (32 bytes from `secrets`, URL-safe, prefixed ``cw_`` so a leaked one is
easy to recognise and scan for); the database keeps their SHA-256, which is enough for a
high-entropy secret and lets a request's token be looked up by its hash. Passwords are
low-entropy, so they get argon2id (argon2-cffi's defaults), salted per password.
"""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["TOKEN_PREFIX", "hash_password", "hash_token", "new_token", "verify_password"]

TOKEN_PREFIX = "cw_"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32

_HASHER = PasswordHasher()


def new_token() -> str:
    """A new API token: ``cw_`` and 43 URL-safe characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 of ``token``, hex: what the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the same password hashes differently each time)."""
    return _HASHER.hash(password)


@functools.cache
def _stand_in_hash() -> str:
    """A hash no password matches, verified against when there is none, made on first use."""
    return _HASHER.hash(secrets.token_urlsafe(TOKEN_BYTES))


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``; ``False`` for no hash (an unknown user).

    Without a hash the password is still verified, against a stand-in: a login for an email
    nobody registered then takes as long as one with a wrong password, so the time taken does
    not tell which emails have accounts.
    """
    try:
        return _HASHER.verify(password_hash or _stand_in_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
