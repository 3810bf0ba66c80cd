"""The Hugging Face Inference Providers backend (``huggingface``).

`HuggingFaceSettings` reads and checks the ``HUGGINGFACE_*`` settings; `HuggingFaceLLM` is
the `domain.ports.LLMPort` on the router (``https://router.huggingface.co/v1``); `SPEC`
registers both (see `adapters.llm.SPECS`).
"""

from __future__ import annotations

from typing import Any

from adapters.llm.huggingface.llm import PROVIDER_HEADER, HuggingFaceLLM, route_model
from adapters.llm.huggingface.models import CURATED_MODELS
from adapters.llm.huggingface.profile import PROFILE
from adapters.llm.huggingface.settings import HuggingFaceSettings
from adapters.llm.spec import BackendSpec

__all__ = [
    "CURATED_MODELS",
    "PROVIDER_HEADER",
    "SPEC",
    "HuggingFaceLLM",
    "HuggingFaceSettings",
    "route_model",
]


def _model_settings(settings: HuggingFaceSettings) -> dict[str, Any]:
    return {"model": settings.model, "timeout": settings.timeout, "provider": settings.provider}


SPEC: BackendSpec[HuggingFaceSettings] = BackendSpec(
    name="huggingface",
    title="Hugging Face Inference Providers",
    driver="huggingface",
    env_prefix="HUGGINGFACE_",
    settings=HuggingFaceSettings,
    build=lambda settings, config, io: HuggingFaceLLM(
        settings=settings, config=config, transport=io.transport, name="huggingface"
    ),
    model_settings=_model_settings,
    capabilities=HuggingFaceLLM.capabilities_flags,
    profile=PROFILE,
)
"""The ``huggingface`` backend."""
