"""How a run's events become the conversation's stored events (the SSE stream's payloads).

One mapping for the background runs and the ghost runs, so both streams say the same thing:
``text_chunk {chunk, type}``, ``tool_executing {call_id, name, arguments}``, ``tool_completed
{call_id, name, success, content}``, ``tool_request {tool_requests}`` and the terminal events
with ``stats``. Payloads are JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.events import RunEvent, TextDelta, ThinkingDelta, ToolExecutionFinished, ToolExecutionStarted
from domain.messages import ToolCall
from domain.service import EventType, RunStats

__all__ = ["event_payload", "stats_payload", "tool_requests_payload"]


def stats_payload(stats: RunStats) -> dict[str, int]:
    """``{turns, prompt_tokens, completion_tokens, total_tokens}``."""
    return {
        "turns": stats.turns,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "total_tokens": stats.total_tokens,
    }


def tool_requests_payload(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    """The client calls a paused run waits for: ``[{call_id, name, arguments}]``."""
    return [{"call_id": call.id, "name": call.name, "arguments": dict(call.arguments)} for call in calls]


def event_payload(event: RunEvent, client_tools: frozenset[str]) -> tuple[EventType, dict[str, Any]] | None:
    """The stored event for a run event, or ``None`` when clients are not told about it.

    Client tool calls are announced by the ``tool_request`` that pauses the run, not as
    ``tool_executing``: the server does not execute them.
    """
    if isinstance(event, TextDelta):
        return EventType.TEXT_CHUNK, {"chunk": event.text, "type": "content"}
    if isinstance(event, ThinkingDelta):
        return EventType.TEXT_CHUNK, {"chunk": event.text, "type": "thinking"}
    if isinstance(event, ToolExecutionStarted):
        if event.call.name in client_tools:
            return None
        call = event.call
        return EventType.TOOL_EXECUTING, {
            "call_id": call.id,
            "name": call.name,
            "arguments": dict(call.arguments),
        }
    if isinstance(event, ToolExecutionFinished):
        result = event.result
        return EventType.TOOL_COMPLETED, {
            "call_id": result.call_id,
            "name": result.name,
            "success": not result.is_error,
            "content": result.content,
        }
    return None
