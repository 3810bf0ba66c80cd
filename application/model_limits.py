"""What we know about models and drivers before we ask anyone: context windows and defaults.

Backends rarely tell us a model's context window, and a request that overflows it fails late
and expensively. These tables give the normaliser its per-driver defaults and give
``LLMPort.context_limit`` a sensible answer for well-known models; unknown models fall back to
`DEFAULT_CONTEXT_LIMIT`. The tables are plain data so a new backend adds rows, not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from domain.model_config import NormalizedModelConfig

__all__ = [
    "DEFAULT_CONTEXT_LIMIT",
    "DRIVER_ALIASES",
    "DRIVER_DEFAULTS",
    "MODEL_LIMITS",
    "ModelLimits",
    "context_limit_for",
    "limits_for",
]

DEFAULT_CONTEXT_LIMIT = 4096
"""The context window assumed for a model nobody told us about."""


@attrs.frozen(kw_only=True)
class ModelLimits:
    """The token limits of one model.

    Attributes:
        context: the context window (prompt plus output), in tokens.
        max_output: the most tokens one reply may have, when known.
    """

    context: int
    max_output: int | None = None


def _table(rows: Mapping[str, ModelLimits]) -> Mapping[str, ModelLimits]:
    return MappingProxyType(dict(rows))


_O_SERIES = ModelLimits(context=200_000, max_output=100_000)
_CLAUDE = ModelLimits(context=200_000, max_output=8192)

_ANTHROPIC = _table(
    {
        # Every current Claude model has a 200k window; the prefix rule below makes
        # "claude" match dated ids such as claude-3-5-sonnet-20241022 too.
        "claude": _CLAUDE,
        "claude-sonnet-4-5": ModelLimits(context=200_000, max_output=64_000),
        "claude-sonnet-4": ModelLimits(context=200_000, max_output=64_000),
        "claude-opus-4": ModelLimits(context=200_000, max_output=32_000),
        "claude-3-5-haiku": _CLAUDE,
        "claude-3-5-sonnet": _CLAUDE,
        "claude-3-opus": ModelLimits(context=200_000, max_output=4096),
        "claude-3-haiku": ModelLimits(context=200_000, max_output=4096),
    }
)
"""Claude models: the ``claude`` backend's driver is ``anthropic``."""

DRIVER_ALIASES: Mapping[str, str] = MappingProxyType({"claude": "anthropic"})
"""Backend names accepted where a driver is meant: the ``claude`` backend runs the ``anthropic`` driver."""

MODEL_LIMITS: Mapping[str, Mapping[str, ModelLimits]] = MappingProxyType(
    {
        "huggingface": _table(
            {
                "meta-llama/Llama-3.1-8B-Instruct": ModelLimits(context=131_072, max_output=8192),
                "meta-llama/Llama-3.1-70B-Instruct": ModelLimits(context=131_072, max_output=8192),
                "meta-llama/Llama-3.3-70B-Instruct": ModelLimits(context=131_072, max_output=8192),
                "Qwen/Qwen2.5-72B-Instruct": ModelLimits(context=131_072, max_output=8192),
                "Qwen/Qwen2.5-Coder-32B-Instruct": ModelLimits(context=131_072, max_output=8192),
                "Qwen/Qwen3-Coder-480B-A35B-Instruct": ModelLimits(context=131_072),
                "mistralai/Mistral-7B-Instruct-v0.3": ModelLimits(context=32_768, max_output=8192),
                "deepseek-ai/DeepSeek-R1": ModelLimits(context=65_536, max_output=8192),
                "openai/gpt-oss-120b": ModelLimits(context=131_072),
                "openai/gpt-oss-20b": ModelLimits(context=131_072),
                "google/gemma-2-2b-it": ModelLimits(context=8192),
            }
        ),
        "ollama": _table(
            {
                "llama3.1": ModelLimits(context=131_072, max_output=8192),
                "llama3.2": ModelLimits(context=131_072, max_output=8192),
                "llama3.3": ModelLimits(context=131_072, max_output=8192),
                "qwen2.5": ModelLimits(context=32_768, max_output=8192),
                "qwen2.5-coder": ModelLimits(context=32_768, max_output=8192),
                "qwen3": ModelLimits(context=40_960),
                "mistral": ModelLimits(context=32_768, max_output=8192),
                "deepseek-r1": ModelLimits(context=65_536, max_output=8192),
                "gemma2": ModelLimits(context=8192),
                "gemma3": ModelLimits(context=131_072),
                "phi4": ModelLimits(context=16_384),
            }
        ),
        "openai": _table(
            {
                "gpt-4o": ModelLimits(context=128_000, max_output=16_384),
                "gpt-4o-mini": ModelLimits(context=128_000, max_output=16_384),
                "gpt-4-turbo": ModelLimits(context=128_000, max_output=4096),
                "gpt-4": ModelLimits(context=8192, max_output=8192),
                "gpt-4.1": ModelLimits(context=1_047_576, max_output=32_768),
                "gpt-3.5-turbo": ModelLimits(context=16_385, max_output=4096),
                "o1": _O_SERIES,
                "o3": _O_SERIES,
                "o4": _O_SERIES,
                "o4-mini": _O_SERIES,
            }
        ),
        "anthropic": _ANTHROPIC,
        "fake": _table({"fake-model": ModelLimits(context=32_768, max_output=8192)}),
    }
)
"""Known limits, keyed by driver, then model id (see `limits_for` for how ids match)."""

_HF_SAMPLING: Mapping[str, Any] = {
    "temperature": 0.7,
    "max_tokens": 4096,
    "top_p": 0.9,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}

_ANTHROPIC_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"model": "claude-sonnet-4-5", "max_tokens": 4096, "timeout": 120.0}
)

DRIVER_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "huggingface": MappingProxyType(
            {"model": "meta-llama/Llama-3.1-8B-Instruct", **_HF_SAMPLING, "timeout": 120.0}
        ),
        # A local model may take minutes to load into memory on the first call.
        "ollama": MappingProxyType(
            {"model": "llama3.1", "temperature": 0.7, "max_tokens": 4096, "timeout": 300.0}
        ),
        # No temperature: OpenAI's default is already 1.0, and reasoning models (o1, o3…)
        # refuse any explicit temperature.
        "openai": MappingProxyType({"model": "gpt-4o-mini", "max_tokens": 4096, "timeout": 120.0}),
        # Anthropic requires max_tokens on every request.
        "anthropic": _ANTHROPIC_DEFAULTS,
        # The fake speaks the OpenAI-compatible wire, so it gets the HF sampling defaults:
        # tests then see the same request bodies a real backend would get.
        "fake": MappingProxyType({"model": "fake-model", **_HF_SAMPLING, "timeout": 30.0}),
    }
)
"""Defaults per driver, by `NormalizedModelConfig` field name; backend settings override them."""


def _base_id(model: str) -> str:
    """The model id without a ``:suffix`` (HF provider policy, Ollama tag)."""
    head, _, _ = model.partition(":")
    return head


def limits_for(
    driver: str, model: str, *, table: Mapping[str, Mapping[str, ModelLimits]] | None = None
) -> ModelLimits | None:
    """The known limits of ``model`` on ``driver``, or ``None``.

    Matching is case-insensitive, tried in order: the exact id; the id without a ``:suffix``
    (``Qwen/Qwen2.5-72B-Instruct:fastest``, ``llama3.1:8b``); then the longest table id that
    is a prefix of it ending at a ``-`` boundary, so ``gpt-4o-2024-08-06`` finds ``gpt-4o``
    but ``gpt-4.5`` does not find ``gpt-4``.

    Args:
        driver: the driver name (``huggingface``, ``ollama``, ``openai``, ``anthropic``, ``fake``).
        model: the model id as configured.
        table: the limits to search; `MODEL_LIMITS` by default.

    Returns:
        The limits, or ``None`` for a model the table does not know.
    """
    driver = DRIVER_ALIASES.get(driver, driver)
    rows = (MODEL_LIMITS if table is None else table).get(driver)
    if not rows or not model:
        return None
    lowered = {key.lower(): value for key, value in rows.items()}
    wanted = model.strip().lower()
    for candidate in (wanted, _base_id(wanted)):
        if candidate in lowered:
            return lowered[candidate]
    base = _base_id(wanted)
    best: tuple[int, ModelLimits] | None = None
    for key, limits in lowered.items():
        if base.startswith(key + "-") and (best is None or len(key) > best[0]):
            best = (len(key), limits)
    return best[1] if best else None


def context_limit_for(driver: str, model: str, config: NormalizedModelConfig | None = None) -> int:
    """The context window to assume for ``model`` on ``driver``.

    Args:
        driver: the driver name.
        model: the model id.
        config: the bound config; its ``context_length`` wins when set.

    Returns:
        ``config.context_length`` when set, else the table's context, else
        `DEFAULT_CONTEXT_LIMIT`.
    """
    if config is not None and config.context_length is not None:
        return config.context_length
    limits = limits_for(driver, model)
    return limits.context if limits else DEFAULT_CONTEXT_LIMIT
