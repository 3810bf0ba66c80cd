"""The ``openai`` driver's profile: its defaults, the settings it refuses, known model limits.

Plain data the normaliser applies (`domain.model_config.DriverProfile`); the model list
(`OpenAILLM.list_models`) reads the context windows from it too.
"""

from __future__ import annotations

from domain.model_config import DriverProfile, ModelLimits, unsupported_settings

__all__ = ["PROFILE"]

_O_SERIES = ModelLimits(context=200_000, max_output=100_000)
_GPT_4O = ModelLimits(context=128_000, max_output=16_384)

PROFILE = DriverProfile(
    driver="openai",
    # No temperature: OpenAI's default is already 1.0, and reasoning models (o1, o3…)
    # refuse any explicit temperature.
    defaults={"model": "gpt-4o-mini", "max_tokens": 4096, "timeout": 120.0},
    # ``provider`` picks a provider behind the Hugging Face router: OpenAI has none to pick.
    unsupported=unsupported_settings("openai", "top_k", "provider"),
    limits={
        "gpt-4o": _GPT_4O,
        "gpt-4o-mini": _GPT_4O,
        "gpt-4-turbo": ModelLimits(context=128_000, max_output=4096),
        "gpt-4": ModelLimits(context=8192, max_output=8192),
        "gpt-4.1": ModelLimits(context=1_047_576, max_output=32_768),
        "gpt-3.5-turbo": ModelLimits(context=16_385, max_output=4096),
        "o1": _O_SERIES,
        "o3": _O_SERIES,
        "o4": _O_SERIES,
        "o4-mini": _O_SERIES,
    },
)
"""Defaults, refused settings and known model limits of OpenAI's chat completions."""
