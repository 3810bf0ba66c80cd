"""The Ollama backend on Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/pull``…).

`OllamaLLM` is the LLM port, `OllamaModelManager` the model-management port (pull, delete,
show, running models), `OllamaSettings` their ``OLLAMA_*`` settings; `wire` holds the pure
request, stream and model-management mapping; `SPEC` registers them (see `adapters.llm.SPECS`).
"""

from __future__ import annotations

from adapters.llm.spec import BackendSpec

from .llm import OllamaLLM
from .manager import OllamaModelManager
from .profile import PROFILE
from .settings import OllamaSettings

__all__ = ["SPEC", "OllamaLLM", "OllamaModelManager", "OllamaSettings"]

SPEC: BackendSpec[OllamaSettings] = BackendSpec(
    name="ollama",
    title="Ollama",
    driver="ollama",
    env_prefix="OLLAMA_",
    settings=OllamaSettings,
    build=lambda settings, config, io: OllamaLLM(
        config=config,
        settings=settings,
        name="ollama",
        transport=io.transport,
        on_pull_progress=io.on_pull_progress,
    ),
    model_manager=lambda settings, io: OllamaModelManager(settings, transport=io.transport),
    model_settings=OllamaSettings.backend_settings,
    capabilities=OllamaLLM.capabilities_flags,
    profile=PROFILE,
    self_hosted=True,
)
"""The ``ollama`` backend."""
