"""The Anthropic Messages API wire format, pure: requests, replies, stream events, errors.

Format: https://docs.anthropic.com/en/api/messages. This module is the one import for the
adapter, the fake and the tests; the code lives in `request` (building ``POST /messages``),
`response` (replies, errors, the model list) and `stream` (the streamed events), split to
keep each part readable. Nothing here touches ``httpx``, files or the environment.
"""

from __future__ import annotations

from adapters.llm.anthropic.models import FALLBACK_MODELS, parse_models, render_models
from adapters.llm.anthropic.request import (
    DEFAULT_MAX_TOKENS,
    MIN_THINKING_BUDGET,
    ImageResolver,
    adjust_config,
    build_messages,
    build_request,
    build_tool_choice,
    build_tools,
    image_block,
    wire_tool_names,
)
from adapters.llm.anthropic.response import (
    BACKEND,
    CONTEXT_WINDOW,
    error_from_payload,
    finish_reason_for,
    parse_completion,
    render_completion,
    render_content,
    render_error,
    render_usage,
    stop_reason_for,
    usage_from,
)
from adapters.llm.anthropic.stream import AnthropicStreamState, parse_tool_input, render_stream

__all__ = [
    "BACKEND",
    "CONTEXT_WINDOW",
    "DEFAULT_MAX_TOKENS",
    "FALLBACK_MODELS",
    "MIN_THINKING_BUDGET",
    "AnthropicStreamState",
    "ImageResolver",
    "adjust_config",
    "build_messages",
    "build_request",
    "build_tool_choice",
    "build_tools",
    "error_from_payload",
    "finish_reason_for",
    "image_block",
    "parse_completion",
    "parse_models",
    "parse_tool_input",
    "render_completion",
    "render_content",
    "render_error",
    "render_models",
    "render_stream",
    "render_usage",
    "stop_reason_for",
    "usage_from",
    "wire_tool_names",
]
