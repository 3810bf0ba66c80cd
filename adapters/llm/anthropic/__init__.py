"""The Anthropic Claude backend, registered as ``claude``: the Messages API over HTTP.

`wire` holds the pure mapping of requests, replies and stream events; `AnthropicSettings`
reads the ``ANTHROPIC_*`` variables; `AnthropicLLM` does the I/O on the shared engine.
The container wires it as::

    settings = AnthropicSettings.from_env(environ)
    BackendEntry(
        name="claude",
        driver="anthropic",
        factory=lambda config: AnthropicLLM(settings=settings, config=config),
        settings=settings.backend_settings(),
    )
"""

from adapters.llm.anthropic.client import AnthropicLLM
from adapters.llm.anthropic.settings import AnthropicSettings

__all__ = ["AnthropicLLM", "AnthropicSettings"]
