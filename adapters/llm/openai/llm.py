"""`OpenAILLM`: OpenAI's chat completions, as a thin layer over `OpenAICompatibleLLM`.

Why so little code: OpenAI's wire format is the one the shared OpenAI-compatible client
already speaks (one SSE decoder, one tool-call accumulator, one request mapping). What is
OpenAI's own lives here:

- newer models (gpt-4o, gpt-4.1, gpt-5, the o-series) take ``max_completion_tokens``;
  ``max_tokens`` is refused by the reasoning models;
- reasoning models (o-series, gpt-5) refuse ``temperature``, ``top_p``, the penalties and
  ``stop``: they are not sent, with a warning; ``reasoning_effort`` is sent to them when configured;
- OpenAI's error bodies: ``insufficient_quota`` comes as a 429 but waiting does not help,
  so it is a `PermissionDeniedError` (not retried) telling the user to check billing;
  ``context_length_exceeded`` is a `ContextLengthExceededError` (A's classifier);
- ``OpenAI-Organization``, the ``x-request-id`` of each reply, and a model list that knows
  context windows from the model-limits table, with a static fallback.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adapters.llm._errors import redact_secrets
from adapters.llm._http import StatusFailure
from adapters.llm.openai.profile import PROFILE
from adapters.llm.openai.settings import KEYS_PAGE, OpenAISettings
from adapters.llm.openai_compatible.backend import OpenAICompatibleBackend
from domain.errors import LLMError, PermissionDeniedError
from domain.model_config import AIModel, NormalizedModelConfig

__all__ = [
    "FALLBACK_MODELS",
    "OpenAILLM",
    "adjust_config",
    "is_reasoning_model",
    "parse_models",
    "uses_max_completion_tokens",
]

_log = logging.getLogger(__name__)

BILLING_PAGE = "https://platform.openai.com/settings/organization/billing"

_REASONING = re.compile(r"^(o\d+)(-|$)|^gpt-5(?!.*-chat)")
_COMPLETION_TOKENS = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-5|o\d+)(-|$|\.)")
_CHAT_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-)")
_NOT_CHAT = re.compile(
    r"(embedding|whisper|tts|dall-e|davinci|babbage|moderation|transcribe|realtime|audio|image)"
)


def _base(model: str) -> str:
    """The model id without an ``org/`` prefix some gateways add (``openai/gpt-4o``)."""
    return model.rsplit("/", 1)[-1].lower()


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is a reasoning model (o1, o3, o4-mini…, gpt-5 but not gpt-5-chat)."""
    return bool(_REASONING.search(_base(model)))


def uses_max_completion_tokens(model: str) -> bool:
    """Whether ``model`` takes ``max_completion_tokens`` rather than ``max_tokens``."""
    return bool(_COMPLETION_TOKENS.search(_base(model)))


def adjust_config(config: NormalizedModelConfig) -> NormalizedModelConfig:
    """Leave out what the model refuses, saying so in ``warnings``. Idempotent."""
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    if is_reasoning_model(config.model):
        for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
            value = getattr(config, key)
            if value is None:
                continue
            changes[key] = None
            if key in ("temperature", "top_p") or value != 0:
                warnings.append(f"{key} is not accepted by the reasoning model {config.model}; not sent")
        if config.stop:
            changes["stop"] = ()
            warnings.append(
                f"stop sequences are not accepted by the reasoning model {config.model}; not sent"
            )
    elif config.reasoning_effort is not None:
        changes["reasoning_effort"] = None
        warnings.append(
            f"reasoning_effort only applies to reasoning models (o-series, gpt-5); not sent to {config.model}"
        )
    if not changes:
        return config
    return attrs.evolve(config, **changes, warnings=(*config.warnings, *warnings))


FALLBACK_MODELS: tuple[AIModel, ...] = tuple(
    AIModel(
        name=name,
        owned_by="openai",
        description=description,
        family=name.split("-")[0] if name.startswith("o") else "-".join(name.split("-")[:2]),
        context_length=limits.context if (limits := PROFILE.limits_for(name)) else None,
        capabilities=capabilities,
    )
    for name, description, capabilities in (
        ("gpt-4o", "GPT-4o", ("completion", "vision", "tool_use")),
        ("gpt-4o-mini", "GPT-4o mini", ("completion", "vision", "tool_use")),
        ("gpt-4.1", "GPT-4.1", ("completion", "vision", "tool_use")),
        ("gpt-4-turbo", "GPT-4 Turbo", ("completion", "vision", "tool_use")),
        ("gpt-4", "GPT-4", ("completion", "tool_use")),
        ("gpt-3.5-turbo", "GPT-3.5 Turbo", ("completion", "tool_use")),
        ("o1", "o1 reasoning model", ("completion", "vision", "tool_use", "reasoning")),
        ("o3", "o3 reasoning model", ("completion", "vision", "tool_use", "reasoning")),
        ("o4-mini", "o4-mini reasoning model", ("completion", "vision", "tool_use", "reasoning")),
    )
)
"""Offered by `OpenAILLM.list_models` when ``GET /models`` cannot be reached."""


def parse_models(payload: Any) -> tuple[AIModel, ...]:
    """Read ``GET /models`` (``{"data": [{"id", "owned_by", "created"}…]}``).

    Chat models are kept (embeddings, audio and image models are not chat models); a
    compatible server whose ids look like none of OpenAI's keeps all of them. Context
    windows come from the model-limits table.
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        return ()
    entries = [item for item in data if isinstance(item, Mapping) and item.get("id")]
    chat = [
        item
        for item in entries
        if _CHAT_MODEL.match(str(item["id"])) and not _NOT_CHAT.search(str(item["id"]))
    ]
    models = []
    for item in chat or entries:
        name = str(item["id"])
        limits = PROFILE.limits_for(name)
        capabilities = ["completion", "tool_use"]
        if is_reasoning_model(name):
            capabilities.append("reasoning")
        models.append(
            AIModel(
                name=name,
                owned_by=str(item["owned_by"]) if item.get("owned_by") else None,
                context_length=limits.context if limits else None,
                capabilities=capabilities,
                details={"created": item["created"]} if isinstance(item.get("created"), int) else {},
            )
        )
    return tuple(sorted(models, key=lambda model: model.name))


def _advice(model: str | None) -> dict[int, str]:
    named = f"{model!r}" if model else "the model"
    return {
        401: f"Check OPENAI_API_KEY: it is missing, wrong or revoked. Create a key at {KEYS_PAGE}.",
        403: (
            f"The key may not use {named}: check the project's model access, and OPENAI_ORGANIZATION "
            "when the key belongs to several organizations."
        ),
        400: "OpenAI refused the request; its message above says which parameter to change.",
        404: f"Model {named} does not exist or this key cannot see it: see `cw models --backend openai`.",
        429: "Rate limited: wait and try again (Retry-After is honoured), or spread calls out.",
        500: "OpenAI failed; try again shortly.",
        503: "OpenAI is overloaded; try again shortly.",
    }


def _error_code(body: bytes) -> tuple[str | None, str]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None, ""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return None, ""
    code = error.get("code") or error.get("type")
    return (str(code) if code else None), str(error.get("message") or "")


class OpenAILLM(OpenAICompatibleBackend):
    """The ``openai`` backend: an `LLMPort` on OpenAI's chat completions."""

    default_name = "openai"
    profile = PROFILE

    settings: OpenAISettings

    def _extra_headers(self) -> dict[str, str]:
        return {"OpenAI-Organization": self.settings.organization} if self.settings.organization else {}

    def _error_advice(self, model: str | None) -> Mapping[int, str]:
        return _advice(model)

    def _response_metadata(self, headers: Mapping[str, str]) -> dict[str, Any]:
        request_id = headers.get("x-request-id")
        return {"request_id": request_id} if request_id else {}

    def _status_error(self, failure: StatusFailure) -> LLMError:
        code, message = _error_code(failure.body)
        if code == "insufficient_quota":
            # A 429 that waiting will not fix: the account is out of credit. Not retried.
            detail = redact_secrets(" ".join(message.split())[:300])
            return PermissionDeniedError(
                f"openai: the account has no quota left ({detail or 'insufficient_quota'}). "
                f"Add credit or raise the spending limit at {BILLING_PAGE}.",
                backend=failure.backend,
                status=failure.status,
                model=failure.model,
            )
        if code == "context_length_exceeded":
            advice = {
                **_advice(failure.model),
                failure.status: (
                    "Shorten the conversation, or pick a model with a larger context window "
                    "(`cw models --backend openai` shows each model's window)."
                ),
            }
            return failure.error(advice=advice)
        return super()._status_error(failure)

    def _prepare(self, config: NormalizedModelConfig) -> NormalizedModelConfig:
        adjusted = adjust_config(config)
        for warning in adjusted.warnings[len(config.warnings) :]:
            _log.warning("openai: %s", warning)
        return adjusted

    def _max_tokens_key(self, config: NormalizedModelConfig) -> str:
        return "max_completion_tokens" if uses_max_completion_tokens(config.model) else "max_tokens"

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """OpenAI's chat models (``GET /models``), or the known models when that call fails."""
        return await self._models_or(
            parse_models, FALLBACK_MODELS, instead="showing the known models instead"
        )
