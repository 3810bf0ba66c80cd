"""The Ollama backend's settings, read from ``OLLAMA_*`` variables and checked when they are built.

Ollama runs on the user's machine (or a server they control) and needs no API key. The
variables:

=========================== ==========================  =========================================
``OLLAMA_BASE_URL``         ``http://localhost:11434``  the server root (not ``/v1`` or ``/api``)
``OLLAMA_MODEL``            ``llama3.1``                the model of agents that name none
``OLLAMA_TIMEOUT``          ``120``                     seconds for a whole call (total clock)
``OLLAMA_KEEP_ALIVE``       unset (Ollama: ``5m``)      how long the model stays loaded: ``10m``,
                                                        ``3600`` (seconds), ``-1`` (forever), ``0``
``OLLAMA_PULL_IF_MISSING``  ``false``                   download a missing model before the first
                                                        chat instead of failing
``OLLAMA_MAX_RETRIES``      ``2``                       retries of failed calls (429, 5xx, refused)
``OLLAMA_IDLE_TIMEOUT``     the total timeout           the longest silence while waiting for a
                                                        reply (a model load sends nothing)
``OLLAMA_CONNECT_TIMEOUT``  ``10``                      seconds to open a connection
``OLLAMA_API_KEY``          unset                       sent as ``Authorization: Bearer`` (Ollama's
                                                        hosted API, or a proxy that wants a key)
=========================== ==========================  =========================================

Reading, the URL checks, the rule that a key never goes over plain http to another machine
and the masking are `HTTPBackendSettings`'s. Unlike a backend that needs a key, nothing here
can be missing, so the settings are checked as soon as they are built: a bad value is a
`ConfigError` naming its variable before anything else happens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import urlsplit

import attrs

from adapters.llm._backend_settings import HTTPBackendSettings, help_text
from adapters.llm._settings import shown_url
from domain.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "OllamaSettings"]

DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_MODEL = "llama3.1"

_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
"""A duration as Ollama parses it (Go's ``time.ParseDuration``): ``5m``, ``1h30m``, ``-1s``."""

_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"0", "false", "no", "off"})


def _keep_alive(value: str | float | None) -> str | float | None:
    """Ollama takes a number of seconds or a duration with a unit; send numbers as numbers."""
    if value is None or isinstance(value, int | float):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        if not _DURATION.fullmatch(text):
            raise ConfigError(
                f"OLLAMA_KEEP_ALIVE={text!r} is not a duration; use e.g. 10m, 1h30m, 3600 (seconds), "
                "-1 (keep the model loaded) or 0 (unload it at once)"
            ) from None
        return text
    if not math.isfinite(number):
        raise ConfigError(f"OLLAMA_KEEP_ALIVE={text!r} is not a number of seconds")
    return int(number) if number.is_integer() else number


def _yes_no(text: str) -> bool:
    """A yes/no variable; cattrs would turn any non-empty text (``"false"`` too) into ``True``."""
    word = text.strip().lower()
    if word not in _YES | _NO:
        raise ConfigError(f"OLLAMA_PULL_IF_MISSING={text!r} is not a yes/no value; use true or false")
    return word in _YES


def _seconds(variable: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{variable} must be a positive number of seconds, not {value!r}")


@attrs.frozen(kw_only=True)
class OllamaSettings(HTTPBackendSettings):
    """Where the Ollama server is and how to talk to it (see the module docs for the variables).

    The key, base URL (the server root), model, timeout, retries, limits and secrets are
    `HTTPBackendSettings`'s; no key is ever required, and one that is set is sent as a bearer
    token (never over plain http to another machine, never shown in a ``repr``).

    Attributes:
        keep_alive: sent as ``keep_alive`` with every chat; ``None`` leaves Ollama's default.
        pull_if_missing: pull a model the server does not have before the first chat.
        idle_timeout: the longest wait between two reads; ``None`` means ``timeout``.
        connect_timeout: the longest wait for a connection.
    """

    prefix = "OLLAMA"
    title = "Ollama"
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL
    key_required = "never"

    keep_alive: str | float | None = attrs.field(
        default=None,
        converter=_keep_alive,
        metadata=help_text("a duration such as 10m or a number of seconds"),
    )
    pull_if_missing: bool = attrs.field(default=False, metadata=help_text("true or false"))
    idle_timeout: float | None = attrs.field(default=None, metadata=help_text("a number of seconds"))
    connect_timeout: float = attrs.field(default=10.0, metadata=help_text("a number of seconds"))

    def __attrs_post_init__(self) -> None:
        # Nothing is required, so nothing stops a check at construction (`evolve` included).
        self.validate()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """As `HTTPBackendSettings.from_mapping`, with ``pull_if_missing`` read as yes/no text."""
        pull = values.get("pull_if_missing")
        if isinstance(pull, str):
            values = {**values, "pull_if_missing": _yes_no(pull)}
        return super().from_mapping(values)

    @property
    def display_url(self) -> str:
        """The base URL as it may be shown: without a password."""
        return shown_url(self.base_url)

    def validate(self) -> None:
        """The shared checks, then Ollama's: the server root, and positive idle and connect clocks.

        Raises:
            ConfigError: a base URL that is not http(s), holds ``user:pass@`` or points at
                ``/v1`` or ``/api``; the key about to go over plain http to another machine; an
                empty model; a retry count below 0; a timeout that is not a positive number.
        """
        super().validate()
        if urlsplit(self.base_url).path.rstrip("/").endswith(("/v1", "/api")):
            root = self.base_url[: self.base_url.rfind("/")]
            raise ConfigError(
                f"OLLAMA_BASE_URL={self.base_url!r} points at an API path; give the server root ({root}) — "
                "this backend speaks Ollama's native /api itself"
            )
        if self.idle_timeout is not None:
            _seconds("OLLAMA_IDLE_TIMEOUT", self.idle_timeout)
        _seconds("OLLAMA_CONNECT_TIMEOUT", self.connect_timeout)
