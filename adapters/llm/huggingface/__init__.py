"""The Hugging Face Inference Providers backend (``huggingface``).

`HuggingFaceSettings` reads and checks the ``HUGGINGFACE_*`` settings; `HuggingFaceLLM` is
the `domain.ports.LLMPort` on the router (``https://router.huggingface.co/v1``); `SPEC`
registers both (see `adapters.llm.SPECS`).
"""

from __future__ import annotations

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


_TITLE = "Hugging Face Inference Providers"

SPEC = BackendSpec.http("huggingface", _TITLE, "HUGGINGFACE_", HuggingFaceSettings, HuggingFaceLLM, PROFILE)
"""The ``huggingface`` backend."""
