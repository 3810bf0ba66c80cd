"""The Anthropic Claude backend, registered as ``claude``: the Messages API over HTTP.

`wire` holds the pure mapping of requests, replies and stream events; `AnthropicSettings`
reads the ``ANTHROPIC_*`` variables; `AnthropicLLM` does the I/O on the shared engine;
`SPEC` registers them as the ``claude`` backend running the ``anthropic`` driver (see
`adapters.llm.SPECS`).
"""

from adapters.llm.anthropic.llm import AnthropicLLM
from adapters.llm.anthropic.profile import PROFILE
from adapters.llm.anthropic.settings import AnthropicSettings
from adapters.llm.spec import BackendSpec

__all__ = ["SPEC", "AnthropicLLM", "AnthropicSettings"]

SPEC = BackendSpec.http("claude", "Anthropic Claude", "ANTHROPIC_", AnthropicSettings, AnthropicLLM, PROFILE)
"""The ``claude`` backend."""
