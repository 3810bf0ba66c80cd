"""The ``anthropic`` driver's profile (the ``claude`` backend): defaults, ranges, refused settings, limits.

Plain data the normaliser applies (`domain.model_config.DriverProfile`).
"""

from __future__ import annotations

from domain.model_config import DriverProfile, ModelLimits, unsupported_settings

__all__ = ["PROFILE"]

_CLAUDE = ModelLimits(context=200_000, max_output=8192)

PROFILE = DriverProfile(
    driver="anthropic",
    # Anthropic requires max_tokens on every request.
    defaults={"model": "claude-sonnet-4-5", "max_tokens": 4096, "timeout": 120.0},
    ranges={"temperature": (0.0, 1.0)},
    # Anthropic refuses a thinking budget under 1024 tokens.
    minimums={"thinking_budget": 1024},
    unsupported=unsupported_settings(
        "anthropic", "frequency_penalty", "presence_penalty", "seed", "provider"
    ),
    limits={
        # Every current Claude model has a 200k window; the prefix rule of `limits_for` makes
        # "claude" match dated ids such as claude-3-5-sonnet-20241022 too.
        "claude": _CLAUDE,
        "claude-sonnet-4-5": ModelLimits(context=200_000, max_output=64_000),
        "claude-sonnet-4": ModelLimits(context=200_000, max_output=64_000),
        "claude-opus-4": ModelLimits(context=200_000, max_output=32_000),
        "claude-3-5-haiku": _CLAUDE,
        "claude-3-5-sonnet": _CLAUDE,
        "claude-3-opus": ModelLimits(context=200_000, max_output=4096),
        "claude-3-haiku": ModelLimits(context=200_000, max_output=4096),
    },
)
"""Defaults, the narrower temperature range, refused settings and known limits of Claude models."""
