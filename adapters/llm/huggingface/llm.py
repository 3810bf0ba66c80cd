"""`HuggingFaceLLM`: Hugging Face Inference Providers through the router's OpenAI-compatible API.

Why a layer over `OpenAICompatibleLLM` rather than a copy of it: the router speaks the
OpenAI chat-completions format, so only the Hugging Face parts live here — the ``hf_``
bearer token, ``X-HF-Bill-To``, provider routing by model-id suffix (``model:provider``,
``:fastest``, ``:cheapest``), recording the provider that actually served a call (the
router's ``x-inference-provider`` header) in the reply's metadata and on errors, the
router's model list with its curated fallback, and error advice that tells a person what
to do (the token permission, another provider…).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.llm.huggingface.models import CURATED_MODELS, parse_router_models
from adapters.llm.huggingface.profile import PROFILE
from adapters.llm.huggingface.settings import (
    PERMISSION,
    TOKEN_PAGE,
    HuggingFaceSettings,
    check_provider,
    shown_url,
)
from adapters.llm.openai_compatible.backend import OpenAICompatibleBackend
from domain.model_config import AIModel, NormalizedModelConfig

__all__ = ["PROVIDER_HEADER", "HuggingFaceLLM", "route_model"]

PROVIDER_HEADER = "x-inference-provider"
"""The router's response header naming the provider that served (or refused) the call."""


def route_model(model: str, provider: str | None) -> str:
    """The model id to send: ``model:provider`` when a provider or policy is chosen.

    A model id that already carries a suffix (``org/name:together``) is sent unchanged, so
    an agent's explicit choice wins over the backend's default provider.
    """
    if provider is None or ":" in model:
        return model
    return f"{model}:{check_provider(provider, source='the provider')}"


def _advice(model: str | None) -> dict[int, str]:
    named = f"{model!r}" if model else "the model"
    other_provider = (
        "The provider failed: try another one — append ':fastest' (or a named provider such as "
        "':together' or ':cerebras') to the model id, or set HUGGINGFACE_PROVIDER."
    )
    return {
        401: (
            "Check HUGGINGFACE_API_KEY: the token is missing, wrong or revoked. "
            f"Create a new one at {TOKEN_PAGE}."
        ),
        402: (
            "Your Hugging Face credits for Inference Providers are used up: add credits, "
            "or bill an organization with HUGGINGFACE_BILL_TO."
        ),
        403: (
            f'The token needs the "{PERMISSION}" permission: edit it (or create a fine-grained '
            f"token) at {TOKEN_PAGE}. With HUGGINGFACE_BILL_TO, you must also be a member of that "
            "organization."
        ),
        404: (
            f"Model {named} was not found on the chosen provider: check the model id on "
            "https://huggingface.co/models?inference_provider=all, or drop the ':provider' "
            "suffix / try ':fastest' to let the router pick a provider that serves it."
        ),
        # One line: the router's own message comes right before this advice, never "above".
        400: "The router refused the request: fix what its message names, or try another model.",
        422: "The router refused the request's parameters: fix the one its message names.",
        429: (
            "Rate limited: wait and try again (Retry-After is honoured), spread calls out, "
            "or pick another provider."
        ),
        500: other_provider,
        502: other_provider,
        503: other_provider,
        504: other_provider,
    }


class HuggingFaceLLM(OpenAICompatibleBackend):
    """The ``huggingface`` backend: an `LLMPort` on the Hugging Face router."""

    default_name = "huggingface"
    profile = PROFILE

    settings: HuggingFaceSettings

    def __repr__(self) -> str:
        return (
            f"HuggingFaceLLM(name={self.name!r}, base_url={shown_url(self.base_url)!r}, "
            f"model={self._model_id(self.config)!r})"
        )

    def _extra_headers(self) -> dict[str, str]:
        return {"X-HF-Bill-To": self.settings.bill_to} if self.settings.bill_to else {}

    def _model_id(self, config: NormalizedModelConfig) -> str:
        return route_model(config.model, config.provider or self.settings.provider)

    def _error_advice(self, model: str | None) -> Mapping[int, str]:
        return _advice(model)

    def _response_metadata(self, headers: Mapping[str, str]) -> dict[str, Any]:
        provider = headers.get(PROVIDER_HEADER)
        return {"provider": provider} if provider else {}

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The router's models (``GET /models``), or the curated list when that fails.

        Each router model carries, in ``details["providers"]``, its providers' status,
        context length, pricing and tool / structured-output support (those the router
        sent), with or without ``detailed``; ``details["source"]`` says ``router`` or
        ``curated``.
        """
        return await self._models_or(
            lambda payload: parse_router_models(payload, detailed=detailed),
            CURATED_MODELS,
            instead="using the curated list",
        )
