"""What models the Hugging Face router offers: its ``GET /models`` list, or a curated one.

Why: the router's model list carries what a user needs to choose (which providers serve a
model, their status, context length, price, tool and structured-output support), but the
call can fail (offline, an old self-hosted router). The curated list from the backend plan
is the answer then, marked as such in ``details["source"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.model_config import AIModel

__all__ = ["CURATED_MODELS", "parse_router_models"]


def _curated(
    name: str, context: int, description: str, *, tools: bool = True, family: str | None = None
) -> AIModel:
    owner = name.split("/", 1)[0]
    return AIModel(
        name=name,
        owned_by=owner,
        description=description,
        family=family or owner,
        context_length=context,
        capabilities=("completion", "tools") if tools else ("completion",),
        details={"source": "curated", "tool_calling": "yes" if tools else "limited"},
    )


CURATED_MODELS: tuple[AIModel, ...] = (
    _curated("meta-llama/Llama-3.1-8B-Instruct", 131_072, "Good general-purpose model, widely available"),
    _curated("meta-llama/Llama-3.1-70B-Instruct", 131_072, "High capability"),
    _curated("Qwen/Qwen2.5-72B-Instruct", 131_072, "Strong multilingual"),
    _curated("Qwen/Qwen2.5-Coder-32B-Instruct", 131_072, "Code-specialised"),
    _curated("deepseek-ai/DeepSeek-R1", 65_536, "Reasoning-focused", tools=False),
    _curated("mistralai/Mistral-7B-Instruct-v0.3", 32_768, "Fast, efficient"),
    _curated("openai/gpt-oss-120b", 131_072, "OpenAI's open-weight model on the Hub"),
    _curated("google/gemma-2-2b-it", 8192, "Tiny, fast", tools=False),
    _curated("Qwen/Qwen3-Coder-480B-A35B-Instruct", 131_072, "Latest coding model"),
)
"""The backend plan's recommended models, served when the router's list is unavailable."""

_PROVIDER_KEYS = (
    "provider",
    "status",
    "context_length",
    "pricing",
    "supports_tools",
    "supports_structured_output",
)


def _provider_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: raw[key] for key in _PROVIDER_KEYS if raw.get(key) is not None}


def _model(raw: Mapping[str, Any], *, detailed: bool) -> AIModel:
    providers = [_provider_entry(p) for p in raw.get("providers") or () if isinstance(p, Mapping)]
    live = [p for p in providers if p.get("status", "live") == "live"] or providers
    contexts = [p["context_length"] for p in live if isinstance(p.get("context_length"), int)]
    capabilities = ["completion"]
    if any(p.get("supports_tools") for p in live):
        capabilities.append("tools")
    if any(p.get("supports_structured_output") for p in live):
        capabilities.append("structured_output")
    details: dict[str, Any] = {
        "source": "router",
        "providers_available": [p["provider"] for p in live if "provider" in p],
        "providers": providers,
    }
    if "created" in raw:
        details["created"] = raw["created"]
    owned_by = raw.get("owned_by")
    return AIModel(
        name=str(raw["id"]),
        owned_by=str(owned_by) if owned_by is not None else None,
        context_length=max(contexts) if contexts else None,
        capabilities=tuple(capabilities),
        details=details,
    )


def parse_router_models(payload: Any, *, detailed: bool = False) -> Sequence[AIModel] | None:
    """The models of a router ``GET /models`` body; ``None`` when it is not such a body.

    Each entry's ``providers`` (provider, status, context_length, pricing, supports_tools,
    supports_structured_output, those present) become the model's context length (the
    largest among live providers), its capabilities and ``details["providers"]``; the
    router sends them all in one list, so ``detailed`` changes nothing here.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        return None
    return tuple(
        _model(item, detailed=detailed)
        for item in payload["data"]
        if isinstance(item, Mapping) and item.get("id")
    )
