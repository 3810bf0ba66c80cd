"""`VLLMLLM`: a vLLM server through its OpenAI-compatible API, as a thin layer over `OpenAICompatibleLLM`.

What is vLLM's own: its settings (a key only off this machine), its driver profile, the
advice worth giving for each error, and its model list — ``GET /v1/models`` names the served
model and its context window (``max_model_len``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.llm.openai_compatible.backend import OpenAICompatibleBackend
from adapters.llm.openai_compatible.llm import MODELS_PATH
from adapters.llm.vllm.settings import DEFAULT_MODEL, VLLMSettings
from domain.errors import StreamError
from domain.model_config import AIModel, DriverProfile, unsupported_settings

__all__ = ["PROFILE", "VLLMLLM", "parse_models"]

PROFILE = DriverProfile(
    driver="vllm",
    defaults={"model": DEFAULT_MODEL, "temperature": 0.7, "max_tokens": 4096, "timeout": 120.0},
    # The OpenAI-compatible wire has no top_k key, and there is no provider to pick.
    unsupported=unsupported_settings("vllm", "top_k", "provider"),
)
"""vLLM's defaults and refused settings; the server itself knows its model's window."""


def _advice(model: str | None) -> dict[int, str]:
    named = f"{model!r}" if model else "the model"
    return {
        401: "Check VLLM_API_KEY: it must equal the --api-key the server was started with.",
        404: (
            f"The server does not serve {named}: set VLLM_MODEL to the model `vllm serve` was "
            "started with (`cw models --backend vllm` lists it), and check VLLM_BASE_URL ends in /v1."
        ),
        400: "The server refused the request; its message above says which parameter to change.",
        500: "The vLLM server failed; its log says why. Try again once it is healthy.",
        503: "The vLLM server is busy or still loading the model; try again shortly.",
    }


def parse_models(payload: Any) -> tuple[AIModel, ...]:
    """Read ``GET /v1/models``: each served model with its context window (``max_model_len``).

    Raises:
        StreamError: the body is not a model list.
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        raise StreamError("vllm: GET /models did not return a model list", backend="vllm")
    return tuple(
        AIModel(
            name=str(item["id"]),
            owned_by=str(item["owned_by"]) if item.get("owned_by") else None,
            context_length=window if isinstance(window := item.get("max_model_len"), int) else None,
            details={"root": item["root"]} if isinstance(item.get("root"), str) else {},
        )
        for item in data
        if isinstance(item, Mapping) and item.get("id")
    )


class VLLMLLM(OpenAICompatibleBackend):
    """The ``vllm`` backend: an `LLMPort` on a vLLM server's chat completions."""

    default_name = "vllm"
    profile = PROFILE

    settings: VLLMSettings

    def _error_advice(self, model: str | None) -> Mapping[int, str]:
        return _advice(model)

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The models the server serves (``GET /v1/models``), with their context windows."""
        payload, _ = await self._engine.request_json(
            "GET", MODELS_PATH, headers=self._headers(), model=self.config.model
        )
        return parse_models(payload)
