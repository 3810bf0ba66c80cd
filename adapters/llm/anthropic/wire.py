"""The Anthropic Messages API wire format, pure: requests, replies, stream events, errors.

Format: https://docs.anthropic.com/en/api/messages. This module is the one import for the
adapter, the fake and the tests; the code lives in `request` (building ``POST /messages``),
`response` (replies, errors, the model list) and `stream` (the streamed events), split to
keep each part readable. Nothing here touches ``httpx``, files or the environment.
"""

from __future__ import annotations

from adapters.llm.anthropic import models, request, response, stream
from adapters.llm.anthropic.models import *  # noqa: F403  (the facade: each part's own __all__)
from adapters.llm.anthropic.request import *  # noqa: F403
from adapters.llm.anthropic.response import *  # noqa: F403
from adapters.llm.anthropic.stream import *  # noqa: F403

__all__: list[str] = []
__all__ += models.__all__
__all__ += request.__all__
__all__ += response.__all__
__all__ += stream.__all__
