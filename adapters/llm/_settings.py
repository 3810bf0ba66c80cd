"""Checks every backend's settings share: the API key, the base URL, the secrets to scrub.

Why here and not in each backend: the rules are the same everywhere and easy to get subtly
wrong. A key with a line break or a non-ASCII character made httpx quote it in an "Illegal
header value" error (and the engine retry it as "unreachable"); ``user:pass@`` in a base URL
made httpx swap the key for Basic auth and echo it; ``evil.localhost`` passed a loopback
check but is resolved by DNS. Each backend's ``from_env`` and ``validate`` call these.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from domain.errors import ConfigError

__all__ = [
    "Secret",
    "as_secrets",
    "check_api_key",
    "is_loopback_host",
    "refuse_userinfo",
    "shown_url",
]

_SENDABLE = re.compile(r"^[\x21-\x7e]+$")


def check_api_key(variable: str, value: str | None) -> None:
    """Refuse a key that cannot travel in an HTTP header, naming ``variable`` but never the value.

    A key is printable ASCII without whitespace inside (surrounding whitespace was already
    stripped): what every provider issues.

    Raises:
        ConfigError: a control character, whitespace or a non-ASCII character in the key.
    """
    if value is None or _SENDABLE.match(value):
        return
    raise ConfigError(
        f"{variable} holds a character no API key has (a control character, a space, a line break "
        f"or non-ASCII text); set {variable} again exactly as issued, without quotes or line breaks"
    )


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine without asking DNS: ``localhost`` or a literal loopback address.

    ``*.localhost`` does not count: a resolver may send it anywhere.
    """
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_userinfo(url: str, variable: str) -> None:
    """Refuse ``user:pass@`` in a base URL; the message names ``variable`` and never the password.

    httpx turns userinfo into Basic auth, which replaces the API key (a 401) and is echoed
    in errors as base64 of the secret.

    Raises:
        ConfigError: the URL has a user name or password.
    """
    try:
        parts = urlsplit(url)
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        has_userinfo = "@" in url.split("/")[2] if url.count("/") >= 2 else False
    if has_userinfo:
        raise ConfigError(
            f"{variable} must not contain a user name or password (user:pass@host): httpx would "
            "send them instead of the API key; remove them and set the key variable"
        )


def shown_url(url: str) -> str:
    """``url`` as it may be shown: a password in it (``user:pass@``, for a proxy) becomes ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # unparsable (an unclosed IPv6 bracket): drop all up to the last "@"
        return url.rpartition("@")[2]
    if password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return parts._replace(netloc=f"{name}:***@{host}").geturl()


def as_secrets(values: Iterable[str]) -> tuple[str, ...]:
    """The ``secrets`` field converter of the backend settings: a tuple of the non-empty values."""
    return tuple(value for value in values if value)


class Secret:
    """Holds an API key so that no repr, ``vars()`` dump or log line shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__
