"""Model settings, model descriptions, backend capabilities and the agent definition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "AIModel",
    "Agent",
    "Capabilities",
    "ModelPullProgress",
    "NormalizedModelConfig",
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
