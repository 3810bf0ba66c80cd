"""The Ollama backend on Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/pull``…).

`OllamaLLM` is the LLM port, `OllamaModelManager` the model-management port (pull, delete,
show, running models), `OllamaSettings` their ``OLLAMA_*`` settings; `wire` holds the pure
request, stream and model-management mapping.
"""

from __future__ import annotations

from .client import OllamaLLM
from .manager import OllamaModelManager
from .settings import OllamaSettings

__all__ = ["OllamaLLM", "OllamaModelManager", "OllamaSettings"]
