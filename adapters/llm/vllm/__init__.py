"""The vLLM backend (``vllm``): a self-hosted vLLM server through its OpenAI-compatible API.

`VLLMSettings` reads the ``VLLM_*`` variables; `VLLMLLM` is a thin layer over
`OpenAICompatibleLLM`; `SPEC` registers them (see `adapters.llm.SPECS`). This package is the
whole backend: nothing in ``application/`` knows it exists.
"""

from __future__ import annotations

from adapters.llm.spec import BackendSpec
from adapters.llm.vllm.llm import PROFILE, VLLMLLM, parse_models
from adapters.llm.vllm.settings import VLLMSettings

__all__ = ["SPEC", "VLLMLLM", "VLLMSettings", "parse_models"]

SPEC = BackendSpec.http("vllm", "vLLM", "VLLM_", VLLMSettings, VLLMLLM, PROFILE, self_hosted=True)
"""The ``vllm`` backend."""
