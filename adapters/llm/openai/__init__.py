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

SPEC = BackendSpec.http("openai", "OpenAI", "OPENAI_", OpenAISettings, OpenAILLM, PROFILE)
"""The ``openai`` backend."""
