"""Ollama's model-management wire shapes, as pure functions over JSON values.

Reference: https://github.com/ollama/ollama/blob/main/docs/api.md — "List Local Models"
(``GET /api/tags``), "Show Model Information" (``POST /api/show``), "List Running Models"
(``GET /api/ps``) and "Pull a Model" (``POST /api/pull``, NDJSON progress). Each parser has
a ``render_*`` inverse used by the fake server and the property tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adapters.llm._fields import present
from domain.errors import LLMError, ModelNotFoundError, ProviderError, StreamError
from domain.model_config import AIModel, ModelPullProgress

from .errors import BACKEND, error_text

__all__ = [
    "is_pull_finished",
    "merge_show",
    "parse_ps",
    "parse_pull_progress",
    "parse_show",
    "parse_tags",
    "pull_error",
    "render_ps",
    "render_pull_stream",
    "render_show",
    "render_tags",
]

_DETAIL_KEYS = ("format", "families", "parent_model")
"""Keys of a model's ``details`` object kept in `AIModel.details` when they say something."""

_SHOW_KEYS = ("template", "parameters", "license", "system")
"""Top-level keys of ``/api/show`` kept in `AIModel.details`."""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _models(payload: Any, endpoint: str) -> list[Mapping[str, Any]]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("models", []), list):
        raise StreamError(f"Ollama's {endpoint} reply is not a model list: {payload!r:.200}", backend=BACKEND)
    return [entry for entry in payload.get("models") or [] if isinstance(entry, Mapping)]


def _model_entry(entry: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> AIModel:
    details = entry.get("details")
    details = details if isinstance(details, Mapping) else {}
    kept = {key: details[key] for key in _DETAIL_KEYS if details.get(key) not in (None, "", [])}
    if extra:
        kept.update(extra)
    return AIModel(
        name=_str(entry.get("name")) or _str(entry.get("model")) or "",
        family=_str(details.get("family")),
        size=_size(entry.get("size")),
        digest=_str(entry.get("digest")),
        parameter_size=_str(details.get("parameter_size")),
        quantization=_str(details.get("quantization_level")),
        modified_at=_str(entry.get("modified_at")),
        details=kept,
    )


def parse_tags(payload: Any) -> tuple[AIModel, ...]:
    """The local models of a ``GET /api/tags`` reply.

    Raises:
        StreamError: the reply is not a model list.
    """
    return tuple(_model_entry(entry) for entry in _models(payload, "/api/tags"))


def parse_ps(payload: Any) -> tuple[AIModel, ...]:
    """The models loaded in memory, from a ``GET /api/ps`` reply (with expiry and VRAM use)."""
    models = []
    for entry in _models(payload, "/api/ps"):
        extra = {key: entry[key] for key in ("expires_at", "size_vram") if entry.get(key) is not None}
        model = _model_entry(entry, extra)
        context = _size(entry.get("context_length"))
        models.append(model if context is None else _evolve(model, context_length=context))
    return tuple(models)


def _evolve(model: AIModel, **changes: Any) -> AIModel:
    return attrs.evolve(model, **changes)


def _context_length(model_info: Mapping[str, Any]) -> int | None:
    architecture = model_info.get("general.architecture")
    if isinstance(architecture, str):
        found = _size(model_info.get(f"{architecture}.context_length"))
        if found:
            return found
    for key, value in model_info.items():
        if key.endswith(".context_length") and _size(value):
            return _size(value)
    return None


def parse_show(model: str, payload: Any) -> AIModel:
    """Details of ``model`` from a ``POST /api/show`` reply.

    The context window comes from ``model_info["<architecture>.context_length"]``;
    ``capabilities`` (completion, tools, vision, thinking…) are listed as Ollama gives them;
    the template, parameters, license and system prompt go in ``details``.

    Raises:
        StreamError: the reply is not an object.
    """
    if not isinstance(payload, Mapping):
        raise StreamError(f"Ollama's /api/show reply is not an object: {payload!r:.200}", backend=BACKEND)
    model_info = payload.get("model_info")
    model_info = model_info if isinstance(model_info, Mapping) else {}
    extra: dict[str, Any] = {key: payload[key] for key in _SHOW_KEYS if _str(payload.get(key))}
    architecture = _str(model_info.get("general.architecture"))
    if architecture:
        extra["architecture"] = architecture
    parameter_count = _size(model_info.get("general.parameter_count"))
    if parameter_count:
        extra["parameter_count"] = parameter_count
    base = _model_entry({**payload, "name": model}, extra)
    capabilities = payload.get("capabilities")
    return _evolve(
        base,
        context_length=_context_length(model_info),
        capabilities=tuple(c for c in capabilities if isinstance(c, str))
        if isinstance(capabilities, list)
        else (),
    )


def merge_show(listed: AIModel, shown: AIModel) -> AIModel:
    """A ``/api/tags`` entry completed with what ``/api/show`` adds (detailed listings)."""
    return _evolve(
        listed,
        family=listed.family or shown.family,
        parameter_size=listed.parameter_size or shown.parameter_size,
        quantization=listed.quantization or shown.quantization,
        modified_at=listed.modified_at or shown.modified_at,
        context_length=shown.context_length or listed.context_length,
        capabilities=shown.capabilities or listed.capabilities,
        details={**shown.details, **listed.details},
    )


def pull_error(model: str, text: str) -> LLMError:
    """The error for an ``{"error": …}`` line (or error body) of a pull."""
    lowered = text.lower()
    if "file does not exist" in lowered or "not found" in lowered or "manifest unknown" in lowered:
        return ModelNotFoundError(
            f"there is no model {model!r} to pull ({text}); check the name and tag at https://ollama.com/library",
            backend=BACKEND,
            model=model,
        )
    return ProviderError(f"pulling {model!r} failed: {text}", backend=BACKEND, model=model)


def parse_pull_progress(payload: Any, *, model: str) -> ModelPullProgress:
    """One progress line of ``POST /api/pull``.

    Raises:
        LLMError: the line reports an error (the pull failed).
        StreamError: the line is not a progress object.
    """
    if not isinstance(payload, Mapping):
        raise StreamError(
            f"Ollama sent a pull progress line that is not an object: {payload!r:.200}", backend=BACKEND
        )
    if "error" in payload:
        raise pull_error(model, error_text(payload))
    status = payload.get("status")
    if not isinstance(status, str):
        raise StreamError(
            f"Ollama sent a pull progress line without a status: {payload!r:.200}", backend=BACKEND
        )
    return ModelPullProgress(
        status=status,
        digest=_str(payload.get("digest")),
        total=_size(payload.get("total")),
        completed=_size(payload.get("completed")),
    )


def is_pull_finished(progress: ModelPullProgress) -> bool:
    """Whether this is the last line of a successful pull."""
    return progress.status == "success"


# --------------------------------------------------------------------------- render (fakes, tests)


def _render_entry(model: AIModel) -> dict[str, Any]:
    details: dict[str, Any] = {key: model.details[key] for key in _DETAIL_KEYS if key in model.details}
    details.update(
        family=model.family or "",
        parameter_size=model.parameter_size or "",
        quantization_level=model.quantization or "",
    )
    entry: dict[str, Any] = {"name": model.name, "model": model.name}
    entry.update(present(modified_at=model.modified_at, size=model.size, digest=model.digest))
    entry["details"] = details
    return entry


def render_tags(models: Sequence[AIModel]) -> dict[str, Any]:
    """The ``/api/tags`` reply listing ``models`` (inverse of `parse_tags`)."""
    return {"models": [_render_entry(model) for model in models]}


def render_ps(models: Sequence[AIModel]) -> dict[str, Any]:
    """The ``/api/ps`` reply for loaded ``models`` (inverse of `parse_ps`)."""
    entries = []
    for model in models:
        entry = _render_entry(model)
        for key in ("expires_at", "size_vram"):
            if key in model.details:
                entry[key] = model.details[key]
        if model.context_length is not None:
            entry["context_length"] = model.context_length
        entries.append(entry)
    return {"models": entries}


def render_show(model: AIModel) -> dict[str, Any]:
    """The ``/api/show`` reply describing ``model`` (inverse of `parse_show`)."""
    entry = _render_entry(model)
    payload: dict[str, Any] = {key: model.details[key] for key in _SHOW_KEYS if key in model.details}
    payload["details"] = entry["details"]
    if model.modified_at is not None:
        payload["modified_at"] = model.modified_at
    architecture = model.details.get("architecture") or (model.family or "llama")
    model_info: dict[str, Any] = {"general.architecture": architecture}
    if "parameter_count" in model.details:
        model_info["general.parameter_count"] = model.details["parameter_count"]
    if model.context_length is not None:
        model_info[f"{architecture}.context_length"] = model.context_length
    payload["model_info"] = model_info
    payload["capabilities"] = list(model.capabilities)
    return payload


_DEFAULT_LAYERS = (
    ("sha256:667b0c1932bc6ffc593ed1d03f895bf2dc8dc6df21db3042284a6f4416b06a29", 4_920_734_016),
    ("sha256:948af2743fc78a328dcb3b0f5a31b3d75f415840fdb699e8b1235978392ecf85", 1_481),
    ("sha256:0ba8f0e314b4264dfd19df045cde9d4c394a52474bf92ed6a3de22a4ca31a177", 1_481),
    ("sha256:56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb", 96),
)


def render_pull_stream(
    layers: Sequence[tuple[str, int]] = _DEFAULT_LAYERS, *, steps: int = 4
) -> list[dict[str, Any]]:
    """Realistic ``/api/pull`` progress lines for layers of the given digests and sizes.

    Like a real server: ``pulling manifest``; per layer a first line with the total but no
    ``completed`` yet, then ``steps`` lines of growing ``completed``; then verification,
    manifest writing and ``success``.
    """
    lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
    for digest, total in layers:
        status = f"pulling {digest.removeprefix('sha256:')[:12]}"
        lines.append({"status": status, "digest": digest, "total": total})
        for step in range(1, steps + 1):
            lines.append(
                {"status": status, "digest": digest, "total": total, "completed": total * step // steps}
            )
    lines += [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    return lines
