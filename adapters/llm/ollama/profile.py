"""The ``ollama`` driver's profile: its defaults, the setting it refuses, known model limits.

Plain data the normaliser applies (`domain.model_config.DriverProfile`). Model ids match
with or without their ``:tag`` (``llama3.1:8b`` finds ``llama3.1``).
"""

from __future__ import annotations

from domain.model_config import DriverProfile, ModelLimits, unsupported_settings

__all__ = ["PROFILE"]

_LLAMA = ModelLimits(context=131_072, max_output=8192)
_QWEN = ModelLimits(context=32_768, max_output=8192)

PROFILE = DriverProfile(
    driver="ollama",
    # A local model may take minutes to load into memory on the first call.
    defaults={"model": "llama3.1", "temperature": 0.7, "max_tokens": 4096, "timeout": 300.0},
    # ``provider`` picks a provider behind the Hugging Face router: Ollama has none to pick.
    unsupported=unsupported_settings("ollama", "provider"),
    limits={
        "llama3.1": _LLAMA,
        "llama3.2": _LLAMA,
        "llama3.3": _LLAMA,
        "qwen2.5": _QWEN,
        "qwen2.5-coder": _QWEN,
        "qwen3": ModelLimits(context=40_960),
        "mistral": _QWEN,
        "deepseek-r1": ModelLimits(context=65_536, max_output=8192),
        "gemma2": ModelLimits(context=8192),
        "gemma3": ModelLimits(context=131_072),
        "phi4": ModelLimits(context=16_384),
    },
)
"""Defaults, refused settings and known model limits of Ollama."""
