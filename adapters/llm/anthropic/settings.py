"""Settings of the Claude backend, read from ``ANTHROPIC_*`` variables, with the key hidden.

Why a class of its own: the container asks each backend to parse its own variables
(`AnthropicSettings.from_env`), and everything about them — defaults, validation, and keeping
the API key out of every ``repr`` — then lives next to the adapter that uses them.

Variables: ``ANTHROPIC_API_KEY`` (required to call the API), ``ANTHROPIC_BASE_URL``
(default ``https://api.anthropic.com/v1``), ``ANTHROPIC_MODEL`` (default
``claude-sonnet-4-5``), ``ANTHROPIC_TIMEOUT`` (seconds, default 120),
``ANTHROPIC_MAX_RETRIES`` (default 2) and ``ANTHROPIC_THINKING_BUDGET`` (tokens; turns on
extended thinking for every agent on this backend that does not set its own).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import as_secrets, check_api_key, is_loopback_host, refuse_userinfo
from adapters.settings import secret_values
from domain.errors import ConfigError

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "AnthropicSettings",
]

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_TIMEOUT = 120.0
ANTHROPIC_VERSION = "2023-06-01"
"""The ``anthropic-version`` header: the API version whose shapes `wire` implements."""


def _mask(value: str | None) -> str:
    return "'***'" if value else "None"


@attrs.frozen(kw_only=True)
class AnthropicSettings:
    """How to reach Anthropic. ``repr`` never shows the key.

    Attributes:
        api_key: the ``x-api-key`` value; ``None`` until set (the adapter then refuses to start).
        base_url: the API root, ending in ``/v1``.
        model: the model used when an agent sets none.
        timeout: the total deadline of one call, in seconds.
        max_retries: retries of a failed call before any output reached the caller.
        thinking_budget: extended-thinking budget in tokens, or ``None`` for no thinking.
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    api_key: str | None = attrs.field(default=None, repr=_mask)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = 2
    thinking_budget: int | None = None
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=as_secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AnthropicSettings:
        """Read the ``ANTHROPIC_*`` variables (``os.environ`` when ``environ`` is ``None``).

        A missing key or a bad URL is not an error here, so a runtime without Claude still
        starts; the adapter checks the settings (`validate`) when it is built.

        Raises:
            ConfigError: a number that does not parse or is out of range, or a key that cannot
                be sent in a header; the message names the variable.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        check_api_key("ANTHROPIC_API_KEY", get("ANTHROPIC_API_KEY"))

        timeout = _number(
            get("ANTHROPIC_TIMEOUT"), "ANTHROPIC_TIMEOUT", float, DEFAULT_TIMEOUT, minimum=0.001
        )
        retries = _number(get("ANTHROPIC_MAX_RETRIES"), "ANTHROPIC_MAX_RETRIES", int, 2, minimum=0)
        budget_text = get("ANTHROPIC_THINKING_BUDGET")
        budget = (
            None
            if budget_text is None
            else _number(budget_text, "ANTHROPIC_THINKING_BUDGET", int, 0, minimum=1024)
        )
        return cls(
            limits=StreamLimits.from_env(env),
            secrets=secret_values(env),
            api_key=get("ANTHROPIC_API_KEY"),
            base_url=(get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            model=get("ANTHROPIC_MODEL") or DEFAULT_MODEL,
            timeout=float(timeout),
            max_retries=int(retries),
            thinking_budget=None if budget is None else int(budget),
        )

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``)."""
        settings: dict[str, Any] = {"model": self.model, "timeout": self.timeout}
        if self.thinking_budget is not None:
            settings["thinking_budget"] = self.thinking_budget
        return settings

    def validate(self) -> None:
        """Check the settings before anything is sent.

        Raises:
            ConfigError: no key, a base URL that is not http(s), the key about to travel in
                clear text to another host, or a nonsensical timeout or retry count.
        """
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"ANTHROPIC_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, not {self.base_url!r}"
            )
        if not self.api_key:
            raise ConfigError(
                "the claude backend needs an API key: set ANTHROPIC_API_KEY "
                "(create one at https://console.anthropic.com/settings/keys)"
            )
        refuse_userinfo(self.base_url, "ANTHROPIC_BASE_URL")
        check_api_key("ANTHROPIC_API_KEY", self.api_key)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ConfigError(
                f"refusing to send the Anthropic key over plain http to {parts.hostname}: use an https:// "
                "ANTHROPIC_BASE_URL (plain http is only allowed to localhost)"
            )
        if not self.model.strip():
            raise ConfigError(f"ANTHROPIC_MODEL is empty; the default is {DEFAULT_MODEL}")
        if not self.timeout > 0:
            raise ConfigError(f"ANTHROPIC_TIMEOUT must be a positive number of seconds, not {self.timeout}")
        if self.max_retries < 0:
            raise ConfigError(f"ANTHROPIC_MAX_RETRIES must be 0 or more, not {self.max_retries}")


def _number(text: str | None, name: str, kind: type[Any], default: Any, *, minimum: float) -> Any:
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, not {text!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(f"{name}={text!r} must be at least {minimum:g}")
    if value == float("inf"):  # "inf" parses, but is no number of seconds or tokens
        raise ConfigError(f"{name}={text!r} must be a finite number")
    return value
