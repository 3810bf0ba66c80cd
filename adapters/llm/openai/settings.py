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

import attrs

from adapters.llm._backend_settings import HTTPBackendSettings, optional_text
from domain.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "KEYS_PAGE",
    "REASONING_EFFORTS",
    "OpenAISettings",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o"
KEYS_PAGE = "https://platform.openai.com/api-keys"
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


@attrs.frozen(kw_only=True)
class OpenAISettings(HTTPBackendSettings):
    """How to reach OpenAI (or another server speaking its API). ``repr`` never shows the key.

    The key, base URL, model, timeout, retries, limits and secrets are `HTTPBackendSettings`'s
    (a key is required unless ``base_url`` is on this machine: a local OpenAI-compatible
    server usually wants none).

    Attributes:
        organization: sent as ``OpenAI-Organization`` when set.
        reasoning_effort: the default effort for reasoning models (o-series, gpt-5).
    """

    prefix = "OPENAI"
    title = "OpenAI"
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL
    header_fields = ("api_key", "organization")
    model_setting_fields = ("reasoning_effort",)

    organization: str | None = attrs.field(default=None, converter=optional_text)
    reasoning_effort: str | None = attrs.field(default=None, converter=optional_text)

    def _missing_key(self, host: str) -> str:
        return f"OPENAI_API_KEY is not set: create a key at {KEYS_PAGE} and set OPENAI_API_KEY"

    def validate(self) -> None:
        """Check the settings before any request is sent (`HTTPBackendSettings.validate`, and the effort).

        Raises:
            ConfigError: no key (for a remote server), a base URL that is not http(s), the
                key about to go over plain http to another machine, or a nonsensical
                timeout, retry count or reasoning effort.
        """
        super().validate()
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise ConfigError(
                f"OPENAI_REASONING_EFFORT must be one of {', '.join(REASONING_EFFORTS)}, "
                f"not {self.reasoning_effort!r}"
            )
