"""Backends that speak OpenAI's ``POST /chat/completions``: the HF router, OpenAI, and others.

``wire`` holds the pure request/response/stream mapping; `OpenAICompatibleLLM` (in
``client``) does the I/O on the shared HTTP engine. The client is imported lazily so the
pure ``wire`` module can be used (and tested) without loading ``httpx``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.llm.openai_compatible.llm import OpenAICompatibleLLM

__all__ = ["OpenAICompatibleLLM"]


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatibleLLM":
        from adapters.llm.openai_compatible.llm import OpenAICompatibleLLM

        return OpenAICompatibleLLM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
