"""The Ollama backend's settings, read from ``OLLAMA_*`` variables and checked before any request.

Ollama runs on the user's machine (or a server they control) and needs no API key. The
variables:

=========================  ==========================  =========================================
``OLLAMA_BASE_URL``        ``http://localhost:11434``  the server root (not ``/v1`` or ``/api``)
``OLLAMA_MODEL``           ``llama3.1``                the model of agents that name none
``OLLAMA_TIMEOUT``         ``120``                     seconds for a whole call (total clock)
``OLLAMA_KEEP_ALIVE``      unset (Ollama: ``5m``)      how long the model stays loaded: ``10m``,
                                                       ``3600`` (seconds), ``-1`` (forever), ``0``
``OLLAMA_PULL_IF_MISSING`` ``false``                   download a missing model before the first
                                                       chat instead of failing
``OLLAMA_MAX_RETRIES``     ``2``                       retries of failed calls (429, 5xx, refused)
``OLLAMA_IDLE_TIMEOUT``    the total timeout           the longest silence while waiting for a
                                                       reply (a model load sends nothing)
=========================  ==========================  =========================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import as_secrets, refuse_userinfo
from adapters.settings import secret_values
from domain.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "DEFAULT_TIMEOUT", "OllamaSettings", "redact_url"]

DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_MODEL = "llama3.1"
DEFAULT_TIMEOUT = 120.0

_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
"""A duration as Ollama parses it (Go's ``time.ParseDuration``): ``5m``, ``1h30m``, ``-1s``."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def redact_url(url: str) -> str:
    """``url`` without a password (a proxy in front of Ollama may take ``user:pass@``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"OLLAMA_BASE_URL={shown!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL}")
    refuse_userinfo(url, "OLLAMA_BASE_URL")
    if parts.path.rstrip("/").endswith(("/v1", "/api")):
        root = shown[: shown.rstrip("/").rfind("/")]
        raise ConfigError(
            f"OLLAMA_BASE_URL={shown!r} points at an API path; give the server root ({root}) — "
            "this backend speaks Ollama's native /api itself"
        )
    return url


def _seconds(name: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def _timeout(value: float) -> float:
    return _seconds("OLLAMA_TIMEOUT", value)


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


@attrs.frozen(kw_only=True)
class OllamaSettings:
    """Where the Ollama server is and how to talk to it (see the module docs for the variables).

    Attributes:
        base_url: the server root, without a trailing slash.
        model: the default model.
        timeout: the total deadline of a call, in seconds (pulls have none).
        keep_alive: sent as ``keep_alive`` with every chat; ``None`` leaves Ollama's default.
        pull_if_missing: pull a model the server does not have before the first chat.
        max_retries: retries of a failed call before any output arrived.
        idle_timeout: the longest wait between two reads; ``None`` means ``timeout``.
        connect_timeout: the longest wait for a connection.
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    base_url: str = attrs.field(default=DEFAULT_BASE_URL, converter=_base_url, repr=redact_url)
    model: str = attrs.field(default=DEFAULT_MODEL)
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, converter=_timeout)
    keep_alive: str | float | None = attrs.field(default=None, converter=_keep_alive)
    pull_if_missing: bool = False
    max_retries: int = attrs.field(default=2)
    idle_timeout: float | None = attrs.field(default=None)
    connect_timeout: float = 10.0
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=as_secrets)

    @model.validator
    def _model_not_empty(self, attribute: object, value: str) -> None:
        if not value.strip():
            raise ConfigError("OLLAMA_MODEL is empty; name a model such as llama3.1")

    @max_retries.validator
    def _retries_not_negative(self, attribute: object, value: int) -> None:
        if value < 0:
            raise ConfigError(f"OLLAMA_MAX_RETRIES must be 0 or more, not {value}")

    @idle_timeout.validator
    def _idle_positive(self, attribute: object, value: float | None) -> None:
        if value is not None:
            _seconds("OLLAMA_IDLE_TIMEOUT", value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OllamaSettings:
        """Read the ``OLLAMA_*`` variables of ``environ`` (unset or blank ones take the defaults).

        Raises:
            ConfigError: a value is malformed; the message names the variable.
        """

        def get(name: str) -> str | None:
            value = environ.get(name)
            return value.strip() if value is not None and value.strip() else None

        values: dict[str, Any] = {"limits": StreamLimits.from_env(environ), "secrets": secret_values(environ)}
        if (url := get("OLLAMA_BASE_URL")) is not None:
            values["base_url"] = url
        if (model := get("OLLAMA_MODEL")) is not None:
            values["model"] = model
        if (timeout := get("OLLAMA_TIMEOUT")) is not None:
            values["timeout"] = _number("OLLAMA_TIMEOUT", timeout)
        if (idle := get("OLLAMA_IDLE_TIMEOUT")) is not None:
            values["idle_timeout"] = _number("OLLAMA_IDLE_TIMEOUT", idle)
        if (keep_alive := get("OLLAMA_KEEP_ALIVE")) is not None:
            values["keep_alive"] = keep_alive
        if (retries := get("OLLAMA_MAX_RETRIES")) is not None:
            try:
                values["max_retries"] = int(retries)
            except ValueError:
                raise ConfigError(f"OLLAMA_MAX_RETRIES={retries!r} is not a whole number") from None
        pull = (get("OLLAMA_PULL_IF_MISSING") or "").lower()
        if pull not in _TRUE | _FALSE:
            raise ConfigError(f"OLLAMA_PULL_IF_MISSING={pull!r} is not a yes/no value; use true or false")
        values["pull_if_missing"] = pull in _TRUE
        return cls(**values)

    @property
    def display_url(self) -> str:
        """The base URL as it may be shown: without a password."""
        return redact_url(self.base_url)

    def model_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (between driver defaults and agents)."""
        return {"model": self.model, "timeout": self.timeout}


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number of seconds") from None
