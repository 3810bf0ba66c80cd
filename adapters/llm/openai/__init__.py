"""The OpenAI backend, registered as ``openai``: chat completions over the shared client.

`OpenAISettings` reads the ``OPENAI_*`` variables; `OpenAILLM` is a thin layer over
`OpenAICompatibleLLM` (token-limit key, reasoning models, OpenAI's error bodies, the model
list). The container wires it as::

    settings = OpenAISettings.from_env(environ)
    BackendEntry(
        name="openai",
        driver="openai",
        factory=lambda config: OpenAILLM(settings=settings, config=config),
        settings=settings.backend_settings(),
    )
"""

from adapters.llm.openai.llm import OpenAILLM
from adapters.llm.openai.settings import OpenAISettings

__all__ = ["OpenAILLM", "OpenAISettings"]
