"""Model settings, model descriptions, backend capabilities and the agent definition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "DEFAULT_CONTEXT_LIMIT",
    "AIModel",
    "Agent",
    "Capabilities",
    "DriverProfile",
    "ModelLimits",
    "ModelPullProgress",
    "NormalizedModelConfig",
    "unsupported_settings",
]


def _to_tuple_of_str(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


@attrs.frozen(kw_only=True)
class NormalizedModelConfig:
    """Everything that shapes one model call, after defaults and overrides were merged.

    ``None`` means "not set": the field is left out of the request. Values are already
    clamped to their documented ranges by the normaliser; ``warnings`` says what it changed.
    """

    model: str = attrs.field()
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple_of_str)
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    context_length: int | None = None
    timeout: float | None = None
    provider: str | None = None
    """Hugging Face router policy or provider: ``fastest``, ``cheapest`` or a provider name."""
    reasoning: bool | None = None
    """Ask the model to think (Ollama ``think``); ``None`` leaves the backend default."""
    reasoning_effort: str | None = None
    """OpenAI reasoning effort: ``low``, ``medium`` or ``high``."""
    thinking_budget: int | None = None
    """Anthropic extended thinking budget in tokens."""
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple_of_str)

    @stop.validator
    def _at_most_four_stops(self, attribute: object, value: tuple[str, ...]) -> None:
        if len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")

    @model.validator
    def _model_not_empty(self, attribute: object, value: str) -> None:
        if not value.strip():
            raise ValueError("a model id is required")


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a backend can do."""

    streaming: bool = True
    function_calling: bool = True
    vision: bool = False
    model_management: bool = False
    embeddings: bool = False


@attrs.frozen(kw_only=True)
class AIModel:
    """A model a backend offers. ``details`` holds backend-specific facts (pricing, providers…)."""

    name: str
    owned_by: str | None = None
    description: str | None = None
    family: str | None = None
    size: int | None = None
    digest: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None
    context_length: int | None = None
    capabilities: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple_of_str)
    details: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen(kw_only=True)
class ModelPullProgress:
    """One progress report of a model download."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None

    @property
    def percentage(self) -> float | None:
        """Completed share of this layer, 0–100, when the sizes are known."""
        if not self.total or self.completed is None:
            return None
        return min(100.0, 100.0 * self.completed / self.total)


@attrs.frozen(kw_only=True)
class Agent:
    """An agent: who it is (system prompt), which backend and model it uses, and its tools.

    ``model_config`` holds overrides of the backend's settings, by the field names of
    `NormalizedModelConfig` (``model``, ``temperature``, ``max_tokens``…); ``None`` values
    never override.
    """

    name: str = attrs.field()
    system_prompt: str = ""
    backend: str | None = None
    """A registered backend name; ``None`` uses the configured default backend."""
    model_config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    tools: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple_of_str)

    @name.validator
    def _name_not_empty(self, attribute: object, value: str) -> None:
        if not value.strip():
            raise ValueError("an agent needs a name")


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


def _limits_table(value: Mapping[str, ModelLimits] | None) -> Mapping[str, ModelLimits]:
    return {key.lower(): limits for key, limits in (value or {}).items()}


def _base_id(model: str) -> str:
    """The model id without a ``:suffix`` (HF provider policy, Ollama tag)."""
    head, _, _ = model.partition(":")
    return head


def unsupported_settings(driver: str, *keys: str) -> dict[str, str]:
    """``{key: warning}`` for settings ``driver``'s API does not accept (the usual wording)."""
    return {key: f"{key} is not supported by {driver} and was ignored" for key in keys}


@attrs.frozen(kw_only=True)
class DriverProfile:
    """What the core may know about one driver, as data: the normaliser reads it, never a vendor table.

    Each backend package declares its profile; the registry hands it to the normaliser with
    the backend's settings, so adding a backend adds a value, not a branch in ``application/``.

    Attributes:
        driver: the driver's name, used in warnings and error messages (``anthropic``).
        defaults: default model settings, by `NormalizedModelConfig` field name; the backend's
            settings and the agent's overrides win over them.
        ranges: ``(low, high)`` per numeric setting, narrowing the ranges every backend takes
            (Anthropic's temperature stops at 1); out-of-range values are clamped with a warning.
        minimums: the smallest whole number per setting (Anthropic's thinking budget); lower
            values are raised with a warning.
        unsupported: settings the driver's API refuses, each with the warning given when it
            is dropped (see `unsupported_settings`).
        limits: known model limits by model id (see `limits_for` for how ids match).
    """

    driver: str
    defaults: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    ranges: Mapping[str, tuple[float, float]] = attrs.field(factory=dict, converter=_frozen_mapping)
    minimums: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_mapping)
    unsupported: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    limits: Mapping[str, ModelLimits] = attrs.field(factory=dict, converter=_limits_table)

    def limits_for(self, model: str) -> ModelLimits | None:
        """The known limits of ``model``, or ``None``.

        Matching is case-insensitive, tried in order: the exact id; the id without a ``:suffix``
        (``Qwen/Qwen2.5-72B-Instruct:fastest``, ``llama3.1:8b``); then the longest table id that
        is a prefix of it ending at a ``-`` boundary, so ``gpt-4o-2024-08-06`` finds ``gpt-4o``
        but ``gpt-4.5`` does not find ``gpt-4``.
        """
        if not self.limits or not model:
            return None
        wanted = model.strip().lower()
        base = _base_id(wanted)
        for candidate in (wanted, base):
            if candidate in self.limits:
                return self.limits[candidate]
        best: tuple[int, ModelLimits] | None = None
        for key, limits in self.limits.items():
            if base.startswith(key + "-") and (best is None or len(key) > best[0]):
                best = (len(key), limits)
        return best[1] if best else None

    def context_limit(self, model: str, context_length: int | None = None, *, default: int = 0) -> int:
        """The context window to assume for ``model``.

        Args:
            model: the model id.
            context_length: the bound config's ``context_length``; it wins when set.
            default: the window of a model the table does not know; 0 means
                `DEFAULT_CONTEXT_LIMIT`.
        """
        if context_length is not None:
            return context_length
        limits = self.limits_for(model)
        if limits is not None:
            return limits.context
        return default or DEFAULT_CONTEXT_LIMIT
