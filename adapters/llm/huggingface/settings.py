"""`HuggingFaceSettings`: the Hugging Face backend's settings, read from the environment.

Why a settings class of its own: the token is a secret with rules (it starts with ``hf_``,
it needs a specific permission, it must never travel over plain http to another machine),
and checking them before the first request turns a confusing 401 or a leaked token into a
clear `ConfigError`. ``repr`` never shows the key.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import as_secrets, check_api_key, refuse_userinfo, secret_values
from adapters.llm._settings import is_loopback_host as is_loopback_host
from adapters.llm._settings import shown_url as shown_url
from domain.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "TOKEN_PAGE",
    "HuggingFaceSettings",
    "check_provider",
    "is_loopback_host",
    "shown_url",
]

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
DEFAULT_BASE_URL = "https://router.huggingface.co/v1"
TOKEN_PAGE = "https://huggingface.co/settings/tokens"  # noqa: S105 (a URL, not a secret)
PERMISSION = "Make calls to Inference Providers"

_PROVIDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _redacted(value: str | None) -> str:
    return "None" if value is None else "'hf_***'"


def _optional(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


@attrs.frozen(kw_only=True)
class HuggingFaceSettings:
    """Settings of the Hugging Face Inference Providers backend.

    Attributes:
        api_key: a Hugging Face user access token (``hf_…``) with the "Make calls to
            Inference Providers" permission. Never shown in ``repr``.
        model: the default model id (``org/name``, optionally ``:provider``).
        base_url: the router's OpenAI-compatible root.
        timeout: the total deadline of one call, in seconds.
        provider: the default provider or policy (``fastest``, ``cheapest``, ``together``…);
            ``None`` lets the router choose.
        max_retries: retries of a failed call before any output arrived.
        bill_to: an organization to bill (sent as ``X-HF-Bill-To``).
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    api_key: str | None = attrs.field(default=None, repr=_redacted)
    model: str = DEFAULT_MODEL
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, repr=lambda url: repr(shown_url(url)))
    timeout: float = 120.0
    provider: str | None = attrs.field(default=None, converter=_optional)
    max_retries: int = 2
    bill_to: str | None = attrs.field(default=None, converter=_optional)
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=as_secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HuggingFaceSettings:
        """Read ``HUGGINGFACE_*`` variables; unset or empty ones keep their defaults.

        Raises:
            ConfigError: a number that does not parse, a key that cannot be sent in a header.
        """

        def get(name: str) -> str | None:
            return _optional(environ.get(name))

        values: dict[str, object] = {
            "limits": StreamLimits.from_env(environ),
            "secrets": secret_values(environ),
        }
        if (key := get("HUGGINGFACE_API_KEY")) is not None:
            check_api_key("HUGGINGFACE_API_KEY", key)
            values["api_key"] = key
        if (model := get("HUGGINGFACE_MODEL")) is not None:
            values["model"] = model
        if (base_url := get("HUGGINGFACE_BASE_URL")) is not None:
            values["base_url"] = base_url
        if (timeout := get("HUGGINGFACE_TIMEOUT")) is not None:
            seconds = _number("HUGGINGFACE_TIMEOUT", timeout)
            if not math.isfinite(seconds) or seconds <= 0:  # say so here, naming the variable
                raise ConfigError(
                    f"HUGGINGFACE_TIMEOUT must be a positive number of seconds, not {timeout!r}"
                )
            values["timeout"] = seconds
        if (provider := get("HUGGINGFACE_PROVIDER")) is not None:
            values["provider"] = provider
        if (retries := get("HUGGINGFACE_MAX_RETRIES")) is not None:
            values["max_retries"] = _whole_number("HUGGINGFACE_MAX_RETRIES", retries)
        if (bill_to := get("HUGGINGFACE_BILL_TO")) is not None:
            check_api_key("HUGGINGFACE_BILL_TO", bill_to)
            values["bill_to"] = bill_to
        return cls(**values)  # type: ignore[arg-type]

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``)."""
        return {"model": self.model, "timeout": self.timeout, "provider": self.provider}

    def validate(self) -> None:
        """Check the settings before any request is sent.

        Raises:
            ConfigError: no key, a key that is not an ``hf_`` token, a base URL that is not
                http(s), the token about to go over plain http to another machine, or a
                nonsensical timeout, retry count or provider.
        """
        if not self.api_key:
            raise ConfigError(
                "HUGGINGFACE_API_KEY is not set: create a fine-grained token at "
                f'{TOKEN_PAGE} with the "{PERMISSION}" permission and set HUGGINGFACE_API_KEY'
            )
        check_api_key("HUGGINGFACE_API_KEY", self.api_key)
        check_api_key("HUGGINGFACE_BILL_TO", self.bill_to)
        if not self.api_key.startswith("hf_"):
            raise ConfigError(
                "HUGGINGFACE_API_KEY does not look like a Hugging Face token (they start with "
                f"'hf_'); create one at {TOKEN_PAGE}"
            )
        try:
            url = urllib.parse.urlsplit(self.base_url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            url = urllib.parse.urlsplit("")
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ConfigError(
                f"HUGGINGFACE_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, "
                f"not {shown_url(self.base_url)!r}"
            )
        refuse_userinfo(self.base_url, "HUGGINGFACE_BASE_URL")
        if url.scheme == "http" and not is_loopback_host(url.hostname):
            raise ConfigError(
                f"refusing to send the Hugging Face token over plain http to {url.hostname}: "
                "use an https:// HUGGINGFACE_BASE_URL (plain http is only allowed to localhost)"
            )
        if not self.model.strip():
            raise ConfigError(f"HUGGINGFACE_MODEL is empty; the default is {DEFAULT_MODEL}")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ConfigError(f"HUGGINGFACE_TIMEOUT must be a positive number of seconds, not {self.timeout}")
        if self.max_retries < 0:
            raise ConfigError(f"HUGGINGFACE_MAX_RETRIES must be 0 or more, not {self.max_retries}")
        if self.provider is not None:
            check_provider(self.provider, source="HUGGINGFACE_PROVIDER")


def check_provider(provider: str, *, source: str) -> str:
    """The provider name without a leading ``:``; `ConfigError` when it cannot be one."""
    name = provider.strip().lstrip(":")
    if not _PROVIDER.match(name):
        raise ConfigError(
            f"{source} must be a provider name (e.g. together, cerebras) or a policy "
            f"(fastest, cheapest), not {provider!r}"
        )
    return name


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
