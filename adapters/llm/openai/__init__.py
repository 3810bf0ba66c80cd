"""The OpenAI backend, registered as ``openai``: chat completions over the shared client.

`OpenAISettings` reads the ``OPENAI_*`` variables; `OpenAILLM` is a thin layer over
`OpenAICompatibleLLM` (token-limit key, reasoning models, OpenAI's error bodies, the model
list); `SPEC` registers both (see `adapters.llm.SPECS`).
"""

from adapters.llm.openai.llm import OpenAILLM
from adapters.llm.openai.profile import PROFILE
from adapters.llm.openai.settings import OpenAISettings
from adapters.llm.spec import BackendSpec

__all__ = ["SPEC", "OpenAILLM", "OpenAISettings"]

SPEC: BackendSpec[OpenAISettings] = BackendSpec(
    name="openai",
    title="OpenAI",
    driver="openai",
    env_prefix="OPENAI_",
    settings=OpenAISettings,
    build=lambda settings, config, io: OpenAILLM(
        settings=settings, config=config, transport=io.transport, name="openai"
    ),
    model_settings=OpenAISettings.backend_settings,
    capabilities=OpenAILLM.capabilities_flags,
    profile=PROFILE,
)
"""The ``openai`` backend."""
