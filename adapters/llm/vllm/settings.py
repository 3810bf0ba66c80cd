"""`VLLMSettings`: where a vLLM server is, read from ``VLLM_*`` variables and checked before any request.

vLLM (``vllm serve MODEL``) speaks OpenAI's chat completions at ``http://host:8000/v1``. A
server on this machine usually wants no key; one started with ``--api-key`` (or any server
on another machine) gets it as a bearer token, which is never sent over plain http to
another host and never shown in a ``repr``.

Variables: ``VLLM_BASE_URL`` (default ``http://localhost:8000/v1``), ``VLLM_API_KEY``
(optional on loopback), ``VLLM_MODEL`` (the model the server serves), ``VLLM_TIMEOUT``
(seconds, default 120) and ``VLLM_MAX_RETRIES`` (default 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import check_api_key, is_loopback_host, refuse_userinfo, secret_values
from adapters.llm.huggingface.settings import shown_url
from domain.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "VLLMSettings"]

DEFAULT_BASE_URL = "http://localhost:8000/v1"
DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def _optional(value: str | None) -> str | None:
    return (value or "").strip() or None


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _parse(variable: str, kind: Callable[[str], Any], what: str, raw: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be {what}, not {raw!r}") from None


_VARIABLES: Mapping[str, tuple[str, Callable[[str], Any], str]] = {
    "api_key": ("VLLM_API_KEY", str, "text"),
    "base_url": ("VLLM_BASE_URL", lambda raw: raw.rstrip("/"), "a URL"),
    "model": ("VLLM_MODEL", str, "a model id"),
    "timeout": ("VLLM_TIMEOUT", float, "a number of seconds"),
    "max_retries": ("VLLM_MAX_RETRIES", int, "a whole number"),
}
"""Field → (variable, parser, what it must be)."""


@attrs.frozen(kw_only=True)
class VLLMSettings:
    """How to reach a vLLM server. ``repr`` never shows the key.

    Attributes:
        api_key: the server's ``--api-key``; required only for a server on another machine.
        base_url: the OpenAI-compatible root, ending in ``/v1``.
        model: the served model used when an agent sets none (``cw models --backend vllm``).
        timeout: the total deadline of one call, in seconds.
        max_retries: retries of a failed call before any output reached the caller.
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    api_key: str | None = attrs.field(
        default=None, converter=_optional, repr=lambda key: "'***'" if key else "None"
    )
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, repr=lambda url: repr(shown_url(url)))
    model: str = DEFAULT_MODEL
    timeout: float = 120.0
    max_retries: int = 2
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=_strings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> VLLMSettings:
        """Read the ``VLLM_*`` variables; unset or blank ones keep their defaults.

        Raises:
            ConfigError: a number that does not parse, a key that cannot be sent in a header
                (the message names the variable).
        """
        values = {
            field: _parse(variable, kind, what, raw)
            for field, (variable, kind, what) in _VARIABLES.items()
            if (raw := _optional(environ.get(variable))) is not None
        }
        check_api_key("VLLM_API_KEY", values.get("api_key"))
        return cls(**values, limits=StreamLimits.from_env(environ), secrets=secret_values(environ))

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``)."""
        return {"model": self.model, "timeout": self.timeout}

    def validate(self) -> None:
        """Check the settings before any request is sent.

        Raises:
            ConfigError: a base URL that is not http(s) or holds ``user:pass@``, no key for
                a server on another machine, the key about to go over plain http to another
                machine, or a nonsensical model, timeout or retry count.
        """
        try:
            url = urlsplit(self.base_url)
            host = url.hostname
        except ValueError:  # an unclosed IPv6 bracket
            url, host = urlsplit(""), None
        if url.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"VLLM_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, "
                f"not {shown_url(self.base_url)!r}"
            )
        refuse_userinfo(self.base_url, "VLLM_BASE_URL")
        check_api_key("VLLM_API_KEY", self.api_key)
        local = is_loopback_host(host)
        if not self.api_key and not local:
            raise ConfigError(
                f"VLLM_API_KEY is not set: the vLLM server at {host} is not on this machine; set "
                "VLLM_API_KEY to the server's --api-key (only a server on localhost may go without)"
            )
        if self.api_key and url.scheme == "http" and not local:
            raise ConfigError(
                f"refusing to send the vLLM key over plain http to {host}: use an https:// "
                "VLLM_BASE_URL (plain http is only allowed to localhost)"
            )
        if not self.model.strip():
            raise ConfigError(f"VLLM_MODEL is empty; name the model the server serves, e.g. {DEFAULT_MODEL}")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigError(f"VLLM_TIMEOUT must be a positive number of seconds, not {self.timeout}")
        if self.max_retries < 0:
            raise ConfigError(f"VLLM_MAX_RETRIES must be 0 or more, not {self.max_retries}")
