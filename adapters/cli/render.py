"""Turning run events into terminal output, and a finished run into the ``--json`` object.

stdout carries the answer and nothing else, so ``cw run … > answer.txt`` and pipes work;
everything about *how* the answer came (thinking, tool calls as they run, warnings) goes to
stderr, dimmed. With ``--json`` stdout is exactly one JSON object describing the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from domain.events import (
    ResponseCompleted,
    RunEnded,
    RunEvent,
    TextDelta,
    ThinkingDelta,
    ToolExecutionFinished,
    ToolExecutionStarted,
)
from domain.messages import AIResponse, ChatMessage, ImageInput, ToolCall, Usage
from domain.model_config import AIModel

__all__ = ["StreamPrinter", "message_json", "model_json", "run_json", "tool_call_json", "usage_json"]

_ARGUMENT_PREVIEW = 120
_RESULT_PREVIEW = 100


def _preview(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class StreamPrinter:
    """Prints a run as it happens.

    Args:
        out: where the answer goes (stdout).
        err: a rich console on stderr for thinking and tool activity.
        stream: print the answer as it arrives; otherwise print the final answer at the end.
        show_thinking: print the model's reasoning (dimmed, on stderr).
        answer: print the answer at all (``--json`` prints its own object instead).
    """

    def __init__(
        self,
        out: TextIO,
        err: Console,
        *,
        stream: bool = True,
        show_thinking: bool = True,
        answer: bool = True,
    ) -> None:
        self._out = out
        self._err = err
        self._stream = stream
        self._answer = answer
        self._show_thinking = show_thinking
        self._answer_open = False  # text written on stdout without a final newline
        self._thinking_open = False
        self._reply_text: list[str] = []  # the text of the reply being received, so far

    def handle(self, event: RunEvent) -> None:
        """Render one event."""
        if isinstance(event, TextDelta):
            self._reply_text.append(event.text)
            if self._answer and self._stream and event.text:
                self._close_thinking()
                self._out.write(event.text)
                self._out.flush()
                self._answer_open = not event.text.endswith("\n")
        elif isinstance(event, ThinkingDelta):
            if self._show_thinking and self._stream and event.text:
                self._err.print(escape(event.text), style="dim italic", end="")
                self._thinking_open = not event.text.endswith("\n")
        elif isinstance(event, ResponseCompleted):
            self._reply_text = []
            self._close_thinking()
            if event.response.tool_calls:
                self._end_answer_line()
        elif isinstance(event, ToolExecutionStarted):
            self._end_answer_line()
            call = event.call
            # Arguments that are not valid JSON are shown as the model sent them, not as {}.
            shown = (
                call.raw_arguments
                if call.parse_error is not None and call.raw_arguments is not None
                else json.dumps(dict(call.arguments), ensure_ascii=False)
            )
            arguments = _preview(shown, _ARGUMENT_PREVIEW)
            self._err.print(f"[dim]→ {escape(event.call.name)}({escape(arguments)})[/dim]")
        elif isinstance(event, ToolExecutionFinished):
            result = event.result
            mark = "[red]✗[/red]" if result.is_error else "[green]✓[/green]"
            detail = _preview(result.content, _RESULT_PREVIEW)
            self._err.print(f"[dim]{mark} {escape(result.name)}: {escape(detail)}[/dim]")
        elif isinstance(event, RunEnded):
            self._close_thinking()
            response = event.response
            if self._answer and not self._stream and response is not None and response.content:
                self._out.write(response.content)
                self._answer_open = not response.content.endswith("\n")
            self._end_answer_line()

    def interrupted(self) -> str:
        """End the output of a reply the user interrupted; return the text it had so far.

        The answer line is ended (piped output too), so what comes next starts on its own line.
        """
        self._close_thinking()
        self._end_answer_line()
        partial, self._reply_text = "".join(self._reply_text), []
        return partial

    def warn(self, text: str) -> None:
        """A note for the user on stderr (normaliser warnings, say)."""
        self._end_answer_line()
        self._err.print(f"[yellow]warning:[/yellow] {escape(text)}")

    def _close_thinking(self) -> None:
        if self._thinking_open:
            self._err.print()
            self._thinking_open = False

    def _end_answer_line(self) -> None:
        if self._answer_open:
            self._out.write("\n")
            self._out.flush()
            self._answer_open = False


def usage_json(usage: Usage) -> dict[str, Any]:
    """``{prompt_tokens, completion_tokens, total_tokens}``."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """``{id, name, arguments}``; the raw text and the parse error too when the JSON was invalid."""
    out: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": dict(call.arguments)}
    if call.parse_error is not None:
        out["raw_arguments"] = call.raw_arguments
        out["parse_error"] = call.parse_error
    return out


def _image_json(image: ImageInput) -> str:
    if image.url is not None:
        return image.url if not image.url.startswith("data:") else image.url.split(",", 1)[0] + ",…"
    if image.path is not None:
        return image.path
    return f"<{len(image.data or b'')} bytes>"


def message_json(message: ChatMessage) -> dict[str, Any]:
    """One message: role and content, plus tool_calls, tool_call_id, name, thinking where present."""
    out: dict[str, Any] = {"role": str(message.role), "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.thinking:
        out["thinking"] = message.thinking
    if message.is_error:
        out["is_error"] = True
    if message.images:
        out["images"] = [_image_json(image) for image in message.images]
    return out


def run_json(ended: RunEnded, *, system_prompt: str = "") -> dict[str, Any]:
    """The ``--json`` object of a finished run.

    ``content``, ``thinking``, ``finish_reason``, ``usage``, ``model`` and ``tool_calls``
    are those of the final response, as the provider reported them. ``total_usage`` is the
    whole run's: every model call added up (`RunEnded.usage`), which is what a run with
    tools costs.
    ``messages`` are all the messages of the run in order, as the model was sent them: the
    system prompt first (when there is one), then the conversation.

    Args:
        ended: the run's terminal event.
        system_prompt: the agent's system prompt (not stored with the conversation).
    """
    response = ended.response or AIResponse()
    system = [ChatMessage.system(system_prompt)] if system_prompt.strip() else []
    return {
        "content": response.content,
        "thinking": response.thinking or None,
        "finish_reason": str(response.finish_reason),
        "usage": usage_json(response.usage),
        "total_usage": usage_json(ended.usage),
        "model": response.model,
        "tool_calls": [tool_call_json(call) for call in response.tool_calls],
        "messages": [message_json(message) for message in (*system, *ended.messages)],
    }


def model_json(model: AIModel) -> dict[str, Any]:
    """A model description with the unset fields left out."""
    out: dict[str, Any] = {"name": model.name}
    for key in (
        "owned_by",
        "description",
        "family",
        "size",
        "digest",
        "parameter_size",
        "quantization",
        "modified_at",
        "context_length",
    ):
        value = getattr(model, key)
        if value is not None:
            out[key] = value
    if model.capabilities:
        out["capabilities"] = list(model.capabilities)
    if model.details:
        out["details"] = _jsonable(model.details)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
