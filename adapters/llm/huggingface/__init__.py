"""The Hugging Face Inference Providers backend (``huggingface``).

`HuggingFaceSettings` reads and checks the ``HUGGINGFACE_*`` settings; `HuggingFaceLLM` is
the `domain.ports.LLMPort` on the router (``https://router.huggingface.co/v1``).
"""

from __future__ import annotations

from adapters.llm.huggingface.llm import PROVIDER_HEADER, HuggingFaceLLM, route_model
from adapters.llm.huggingface.models import CURATED_MODELS
from adapters.llm.huggingface.settings import HuggingFaceSettings

__all__ = ["CURATED_MODELS", "PROVIDER_HEADER", "HuggingFaceLLM", "HuggingFaceSettings", "route_model"]
