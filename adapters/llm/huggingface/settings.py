"""`HuggingFaceSettings`: the Hugging Face backend's settings, read from the environment.

Why a settings class of its own: the token is a secret with rules (it starts with ``hf_``,
it needs a specific permission, it must never travel over plain http to another machine),
and checking them before the first request turns a confusing 401 or a leaked token into a
clear `ConfigError`. ``repr`` never shows the key.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from adapters.llm._backend_settings import HTTPBackendSettings, optional_text
from adapters.llm._settings import check_api_key
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


@attrs.frozen(kw_only=True)
class HuggingFaceSettings(HTTPBackendSettings):
    """Settings of the Hugging Face Inference Providers backend (``HUGGINGFACE_*`` variables).

    The key, base URL, model, timeout, retries, limits and secrets are `HTTPBackendSettings`'s;
    the key is a Hugging Face user access token (``hf_…``) with the "Make calls to Inference
    Providers" permission, required even for a server on this machine, shown as ``'hf_***'``.

    Attributes:
        provider: the default provider or policy (``fastest``, ``cheapest``, ``together``…);
            ``None`` lets the router choose.
        bill_to: an organization to bill (sent as ``X-HF-Bill-To``).
    """

    prefix = "HUGGINGFACE"
    title = "Hugging Face"
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL
    key_required = "always"
    key_noun = "token"
    header_fields = ("api_key", "bill_to")

    api_key: str | None = attrs.field(default=None, converter=optional_text, repr=_redacted)
    provider: str | None = attrs.field(default=None, converter=optional_text)
    bill_to: str | None = attrs.field(default=None, converter=optional_text)

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``)."""
        return {**super().backend_settings(), "provider": self.provider}

    def validate(self) -> None:
        """Check the settings before any request is sent (the token first, then the shared checks).

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
        super().validate()
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
