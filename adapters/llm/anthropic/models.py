"""Anthropic's model list, purely: ``GET /v1/models`` and the known models when it cannot be read.

Format: https://docs.anthropic.com/en/api/models-list. `render_models` is the inverse of
`parse_models`, for fakes and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.llm.anthropic.response import BACKEND, CONTEXT_WINDOW, _opt_str
from domain.errors import StreamError
from domain.model_config import AIModel

__all__ = ["FALLBACK_MODELS", "parse_models", "render_models"]

FALLBACK_MODELS: tuple[AIModel, ...] = tuple(
    AIModel(
        name=name,
        owned_by="anthropic",
        description=description,
        family=family,
        context_length=CONTEXT_WINDOW,
        capabilities=("completion", "vision", "tool_use", *(("thinking",) if thinking else ())),
    )
    for name, description, family, thinking in (
        ("claude-opus-4-5", "Claude Opus 4.5", "claude-opus", True),
        ("claude-sonnet-4-5", "Claude Sonnet 4.5", "claude-sonnet", True),
        ("claude-haiku-4-5", "Claude Haiku 4.5", "claude-haiku", True),
        ("claude-opus-4-1", "Claude Opus 4.1", "claude-opus", True),
        ("claude-sonnet-4-0", "Claude Sonnet 4", "claude-sonnet", True),
        ("claude-3-7-sonnet-latest", "Claude Sonnet 3.7", "claude-sonnet", True),
        ("claude-3-5-haiku-latest", "Claude Haiku 3.5", "claude-haiku", False),
    )
)
"""Offered by `list_models` when ``GET /models`` cannot be reached."""


def parse_models(payload: Any) -> tuple[AIModel, ...]:
    """Read ``GET /v1/models`` (``{"data": [{"id", "display_name", "created_at"}…]}``).

    Raises:
        StreamError: the body has no ``data`` list.
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        raise StreamError("Anthropic's model list has no data list", backend=BACKEND)
    known = {model.name: model for model in FALLBACK_MODELS}
    models: list[AIModel] = []
    for entry in data:
        if not isinstance(entry, Mapping) or not entry.get("id"):
            continue
        name = str(entry["id"])
        like = known.get(name)
        models.append(
            AIModel(
                name=name,
                owned_by="anthropic",
                description=_opt_str(entry.get("display_name")),
                family=like.family if like else _family(name),
                modified_at=_opt_str(entry.get("created_at")),
                context_length=CONTEXT_WINDOW,
                capabilities=like.capabilities if like else ("completion", "vision", "tool_use"),
            )
        )
    return tuple(models)


def render_models(models: Iterable[AIModel]) -> dict[str, Any]:
    """A ``GET /v1/models`` body listing ``models`` (inverse of `parse_models`)."""
    data = [
        {
            "type": "model",
            "id": model.name,
            "display_name": model.description or model.name,
            "created_at": model.modified_at or "2025-01-01T00:00:00Z",
        }
        for model in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _family(name: str) -> str | None:
    for family in ("opus", "sonnet", "haiku"):
        if family in name:
            return f"claude-{family}"
    return None
