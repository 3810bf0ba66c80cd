"""The ``huggingface`` driver's profile: its defaults, the setting it refuses, known model limits.

Plain data the normaliser applies (`domain.model_config.DriverProfile`); a model the table
does not know falls back to the 4096-token default window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.model_config import DriverProfile, ModelLimits, unsupported_settings

__all__ = ["PROFILE", "SAMPLING_DEFAULTS"]

SAMPLING_DEFAULTS: Mapping[str, Any] = {
    "temperature": 0.7,
    "max_tokens": 4096,
    "top_p": 0.9,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}
"""The sampling defaults of the router (the fake backend, speaking the same wire, takes them too)."""

_LLAMA_31 = ModelLimits(context=131_072, max_output=8192)

PROFILE = DriverProfile(
    driver="huggingface",
    defaults={"model": "meta-llama/Llama-3.1-8B-Instruct", **SAMPLING_DEFAULTS, "timeout": 120.0},
    unsupported=unsupported_settings("huggingface", "top_k"),  # the router's chat API has no top_k
    limits={
        "meta-llama/Llama-3.1-8B-Instruct": _LLAMA_31,
        "meta-llama/Llama-3.1-70B-Instruct": _LLAMA_31,
        "meta-llama/Llama-3.3-70B-Instruct": _LLAMA_31,
        "Qwen/Qwen2.5-72B-Instruct": _LLAMA_31,
        "Qwen/Qwen2.5-Coder-32B-Instruct": _LLAMA_31,
        "Qwen/Qwen3-Coder-480B-A35B-Instruct": ModelLimits(context=131_072),
        "mistralai/Mistral-7B-Instruct-v0.3": ModelLimits(context=32_768, max_output=8192),
        "deepseek-ai/DeepSeek-R1": ModelLimits(context=65_536, max_output=8192),
        "openai/gpt-oss-120b": ModelLimits(context=131_072),
        "openai/gpt-oss-20b": ModelLimits(context=131_072),
        "google/gemma-2-2b-it": ModelLimits(context=8192),
    },
)
"""Defaults, refused settings and known model limits of the Hugging Face router."""
