"""`OpenAISettings`: the OpenAI backend's settings, read from ``OPENAI_*`` variables.

Why a class of its own: the container asks each backend to parse its own variables, and the
rules about them — defaults, an API key that never travels in clear text to another host and
never shows in a ``repr`` — live next to the adapter that uses them.

Variables: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``),
``OPENAI_MODEL`` (default ``gpt-4o``), ``OPENAI_TIMEOUT`` (seconds, default 120),
``OPENAI_ORGANIZATION`` (optional, sent as ``OpenAI-Organization``), ``OPENAI_MAX_RETRIES``
(default 2) and ``OPENAI_REASONING_EFFORT`` (optional default for reasoning models).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import as_secrets, check_api_key, is_loopback_host, refuse_userinfo, secret_values
from domain.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "KEYS_PAGE",
    "REASONING_EFFORTS",
    "OpenAISettings",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_TIMEOUT = 120.0
KEYS_PAGE = "https://platform.openai.com/api-keys"
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


def _mask(value: str | None) -> str:
    return "'***'" if value else "None"


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@attrs.frozen(kw_only=True)
class OpenAISettings:
    """How to reach OpenAI (or another server speaking its API). ``repr`` never shows the key.

    Attributes:
        api_key: the bearer token; required unless ``base_url`` is on this machine (a local
            OpenAI-compatible server usually wants none).
        base_url: the API root, ending in ``/v1``.
        model: the model used when an agent sets none.
        timeout: the total deadline of one call, in seconds.
        organization: sent as ``OpenAI-Organization`` when set.
        max_retries: retries of a failed call before any output reached the caller.
        reasoning_effort: the default effort for reasoning models (o-series, gpt-5).
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    api_key: str | None = attrs.field(default=None, repr=_mask, converter=_optional)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    timeout: float = DEFAULT_TIMEOUT
    organization: str | None = attrs.field(default=None, converter=_optional)
    max_retries: int = 2
    reasoning_effort: str | None = attrs.field(default=None, converter=_optional)
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=as_secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAISettings:
        """Read the ``OPENAI_*`` variables (``os.environ`` when ``environ`` is ``None``).

        A missing key is not an error here, so a runtime without OpenAI still starts; the
        adapter checks the settings (`validate`) when it is built.

        Raises:
            ConfigError: a number that does not parse, a key that cannot be sent in a header.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return _optional(env.get(name))

        check_api_key("OPENAI_API_KEY", get("OPENAI_API_KEY"))
        check_api_key("OPENAI_ORGANIZATION", get("OPENAI_ORGANIZATION"))
        values: dict[str, Any] = {
            "limits": StreamLimits.from_env(env),
            "secrets": secret_values(env),
            "api_key": get("OPENAI_API_KEY"),
            "organization": get("OPENAI_ORGANIZATION"),
            "reasoning_effort": get("OPENAI_REASONING_EFFORT"),
        }
        if (base_url := get("OPENAI_BASE_URL")) is not None:
            values["base_url"] = base_url.rstrip("/")
        if (model := get("OPENAI_MODEL")) is not None:
            values["model"] = model
        if (timeout := get("OPENAI_TIMEOUT")) is not None:
            try:
                seconds = float(timeout)
            except ValueError:
                raise ConfigError(f"OPENAI_TIMEOUT must be a number of seconds, not {timeout!r}") from None
            if not math.isfinite(seconds) or seconds <= 0:  # say so here, naming the variable
                raise ConfigError(f"OPENAI_TIMEOUT must be a positive number of seconds, not {timeout!r}")
            values["timeout"] = seconds
        if (retries := get("OPENAI_MAX_RETRIES")) is not None:
            try:
                values["max_retries"] = int(retries)
            except ValueError:
                raise ConfigError(f"OPENAI_MAX_RETRIES must be a whole number, not {retries!r}") from None
        return cls(**values)

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``)."""
        settings: dict[str, Any] = {"model": self.model, "timeout": self.timeout}
        if self.reasoning_effort is not None:
            settings["reasoning_effort"] = self.reasoning_effort
        return settings

    def validate(self) -> None:
        """Check the settings before any request is sent.

        Raises:
            ConfigError: no key (for a remote server), a base URL that is not http(s), the
                key about to go over plain http to another machine, or a nonsensical
                timeout, retry count or reasoning effort.
        """
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"OPENAI_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, not {self.base_url!r}"
            )
        refuse_userinfo(self.base_url, "OPENAI_BASE_URL")
        check_api_key("OPENAI_API_KEY", self.api_key)
        check_api_key("OPENAI_ORGANIZATION", self.organization)
        local = is_loopback_host(url.hostname)
        if not self.api_key and not local:
            raise ConfigError(
                f"OPENAI_API_KEY is not set: create a key at {KEYS_PAGE} and set OPENAI_API_KEY"
            )
        if self.api_key and url.scheme == "http" and not local:
            raise ConfigError(
                f"refusing to send the OpenAI key over plain http to {url.hostname}: use an https:// "
                "OPENAI_BASE_URL (plain http is only allowed to localhost)"
            )
        if not self.model.strip():
            raise ConfigError(f"OPENAI_MODEL is empty; the default is {DEFAULT_MODEL}")
        if not self.timeout > 0:
            raise ConfigError(f"OPENAI_TIMEOUT must be a positive number of seconds, not {self.timeout}")
        if self.max_retries < 0:
            raise ConfigError(f"OPENAI_MAX_RETRIES must be 0 or more, not {self.max_retries}")
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise ConfigError(
                f"OPENAI_REASONING_EFFORT must be one of {', '.join(REASONING_EFFORTS)}, "
                f"not {self.reasoning_effort!r}"
            )
