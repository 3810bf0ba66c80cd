"""`AnthropicSettings`: the Claude backend's settings, read from ``ANTHROPIC_*`` variables.

Why a class of its own: the container asks each backend to parse its own variables, and the
rules about them — a key Claude always needs (even from a server on this machine), a
thinking budget Anthropic refuses below 1024 tokens, and a key that never shows in a
``repr`` — live next to the adapter that uses them. Reading and the checks every HTTP
backend shares are `HTTPBackendSettings`'s.

Variables: ``ANTHROPIC_API_KEY`` (required to call the API), ``ANTHROPIC_BASE_URL``
(default ``https://api.anthropic.com/v1``), ``ANTHROPIC_MODEL`` (default
``claude-sonnet-4-5``), ``ANTHROPIC_TIMEOUT`` (seconds, default 120),
``ANTHROPIC_MAX_RETRIES`` (default 2) and ``ANTHROPIC_THINKING_BUDGET`` (tokens; turns on
extended thinking for every agent on this backend that does not set its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import attrs

from adapters.llm._backend_settings import HTTPBackendSettings, help_text
from adapters.llm.anthropic.request import MIN_THINKING_BUDGET
from domain.errors import ConfigError

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "KEYS_PAGE",
    "AnthropicSettings",
]

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
DEFAULT_MODEL = "claude-sonnet-4-5"
KEYS_PAGE = "https://console.anthropic.com/settings/keys"
ANTHROPIC_VERSION = "2023-06-01"
"""The ``anthropic-version`` header: the API version whose shapes `wire` implements."""


@attrs.frozen(kw_only=True)
class AnthropicSettings(HTTPBackendSettings):
    """How to reach Anthropic. ``repr`` never shows the key.

    The key (sent as ``x-api-key``, required even for a server on this machine), base URL
    (the API root, ending in ``/v1``), model, timeout, retries, limits and secrets are
    `HTTPBackendSettings`'s.

    Attributes:
        thinking_budget: extended-thinking budget in tokens, or ``None`` for no thinking.
    """

    prefix = "ANTHROPIC"
    title = "Anthropic"
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL
    key_required = "always"
    model_setting_fields = ("thinking_budget",)

    thinking_budget: int | None = attrs.field(default=None, metadata=help_text("a whole number of tokens"))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """Settings from ``values`` (`HTTPBackendSettings.from_mapping`), with the numbers in range.

        The ranges are checked here, when the variables are read, so a bad
        ``ANTHROPIC_THINKING_BUDGET`` or ``ANTHROPIC_MAX_RETRIES`` stops the runtime at start
        with a message naming it, rather than when the first agent calls Claude.

        Raises:
            ConfigError: an unknown key, a value that does not parse, a key that cannot be
                sent in a header, a negative retry count or a thinking budget under Anthropic's
                minimum; the message names the variable.
        """
        settings = super().from_mapping(values)
        budget = settings.thinking_budget
        if budget is not None and budget < MIN_THINKING_BUDGET:
            raise ConfigError(
                f"{cls.variable('thinking_budget')} must be at least {MIN_THINKING_BUDGET} tokens "
                f"(Anthropic's minimum), not {values.get('thinking_budget')!r}; unset it to turn "
                "extended thinking off"
            )
        return settings

    def _missing_key(self, host: str) -> str:
        return f"the claude backend needs an API key: set ANTHROPIC_API_KEY (create one at {KEYS_PAGE})"
