"""Ollama's chat replies, streamed (NDJSON objects) or whole, as domain events and replies (pure).

Reference: https://github.com/ollama/ollama/blob/main/docs/api.md ("Generate a chat
completion"). Each stream object carries a piece of ``message.content`` or
``message.thinking``, or whole ``message.tool_calls`` (arguments already JSON objects, and
no id: each call gets a generated ``call_<hex>`` id, or the server's ``id`` when a newer
server sends one, so results match their calls through the conversation). The last object
has ``done: true`` with ``done_reason``, token counts and durations in nanoseconds; a
stream that ends without it is truncated. ``render_*`` are the inverses, for the fake
backend and the property tests. Reasoning models asked without ``think`` put their
reasoning in the content between ``<think>`` tags; that is split out as thinking too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from adapters.llm._thinking import ThinkTagSplitter
from domain.errors import StreamError
from domain.events import StreamEvent, TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import AIResponse, FinishReason, ToolCall, Usage

from .errors import BACKEND, error_for_ollama, error_text

__all__ = [
    "DURATION_KEYS",
    "StreamState",
    "new_tool_call_id",
    "parse_chat_response",
    "render_chat_response",
    "render_chat_stream",
]

DURATION_KEYS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
"""Durations of the final stream line, in nanoseconds; copied into the response metadata."""


def new_tool_call_id() -> str:
    """A fresh id for a tool call Ollama sent without one: ``call_`` and 24 hex digits."""
    return "call_" + secrets.token_hex(12)


def _parse_tool_call(raw: Any, new_id: Callable[[], str]) -> ToolCall:
    if not isinstance(raw, Mapping):
        raise StreamError(f"Ollama sent a tool call that is not an object: {raw!r:.200}", backend=BACKEND)
    function = raw.get("function")
    if not isinstance(function, Mapping):
        function = raw
    name = function.get("name")
    call_id = raw.get("id")
    call_id = call_id if isinstance(call_id, str) and call_id else new_id()
    name = name if isinstance(name, str) else ""
    arguments = function.get("arguments")
    if arguments is None:
        return ToolCall(id=call_id, name=name)
    if isinstance(arguments, Mapping):
        return ToolCall(id=call_id, name=name, arguments=arguments)
    raw_text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    try:
        parsed = json.loads(raw_text) if raw_text.strip() else {}
    except RecursionError:
        return ToolCall(
            id=call_id, name=name, raw_arguments=raw_text, parse_error="the arguments are nested too deeply"
        )
    except ValueError as exc:
        return ToolCall(
            id=call_id, name=name, raw_arguments=raw_text, parse_error=f"arguments are not valid JSON: {exc}"
        )
    if not isinstance(parsed, Mapping):
        return ToolCall(
            id=call_id,
            name=name,
            raw_arguments=raw_text,
            parse_error=f"arguments must be a JSON object, got {type(parsed).__name__}",
        )
    return ToolCall(id=call_id, name=name, arguments=parsed)


def _arguments_text(call: ToolCall) -> str:
    if call.raw_arguments is not None:
        return call.raw_arguments
    return json.dumps(dict(call.arguments), ensure_ascii=False, separators=(",", ":"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class StreamState:
    """Rebuilds one reply from the objects of an Ollama chat stream.

    Feed each parsed NDJSON object to `feed`; it returns the events to hand on. After the
    ``done: true`` object, `done` is true and `finish` gives the `AIResponse`. An
    ``{"error": …}`` object raises the matching `LLMError` (the adapter attaches `partial`).

    Args:
        model: the requested model id, used when the stream does not name one.
        new_id: makes ids for tool calls that arrive without one.
    """

    def __init__(self, *, model: str = "", new_id: Callable[[], str] = new_tool_call_id) -> None:
        self.done = False
        self.model = model
        self._new_id = new_id
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._calls: list[ToolCall] = []
        self._final: Mapping[str, Any] = {}
        # Without `think`, reasoning models put `<think>…</think>` in the content instead.
        self._tags = ThinkTagSplitter()
        self._tagged = False

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """Take one stream object; return its text, thinking and tool-call events.

        Raises:
            LLMError: the object is an ``{"error": …}`` report.
            StreamError: the object is not a chat stream object.
        """
        # The hot path (one text piece per object) avoids ABC checks and helper calls: this
        # runs once per token.
        if type(chunk) is not dict and not isinstance(chunk, Mapping):
            raise StreamError(
                f"Ollama sent a stream line that is not an object: {chunk!r:.200}", backend=BACKEND
            )
        if "error" in chunk:
            raise error_for_ollama(status=None, text=error_text(chunk), model=self.model or None)
        if self.done:
            return []  # nothing may follow the final object; ignore rather than corrupt the reply
        events: list[StreamEvent] = []
        message = chunk.get("message")
        if type(message) is dict or isinstance(message, Mapping):
            thinking = message.get("thinking")
            if thinking and type(thinking) is str:
                self._thinking.append(thinking)
                events.append(ThinkingDelta(text=thinking))
            content = message.get("content")
            if content and type(content) is str:
                if self._tagged or "<" in content:
                    self._tagged = True  # from now on the splitter may hold text back
                    self._split_content(self._tags.feed(content), events)
                else:
                    self._content.append(content)
                    events.append(TextDelta(text=content))
            tool_calls = message.get("tool_calls")
            if tool_calls:
                self._feed_tool_calls(tool_calls, events)
        elif message is not None:
            raise StreamError(
                f"Ollama sent a message that is not an object: {message!r:.200}", backend=BACKEND
            )
        if chunk.get("done") is True:
            self._split_content(self._tags.flush(), events)
            self.done = True
            self._final = chunk
            model = chunk.get("model")
            if isinstance(model, str) and model:
                self.model = model
        return events

    def _feed_tool_calls(self, tool_calls: Any, events: list[StreamEvent]) -> None:
        if isinstance(tool_calls, Mapping):
            tool_calls = [tool_calls]
        if not isinstance(tool_calls, list):
            raise StreamError(
                f"Ollama sent tool_calls that are not a list: {tool_calls!r:.200}", backend=BACKEND
            )
        for raw in tool_calls:
            call = _parse_tool_call(raw, self._new_id)
            index = len(self._calls)
            self._calls.append(call)
            events.append(ToolCallStarted(index=index, id=call.id, name=call.name))
            events.append(ToolArgumentsDelta(index=index, fragment=_arguments_text(call)))

    def _split_content(self, pieces: list[TextDelta | ThinkingDelta], events: list[StreamEvent]) -> None:
        for piece in pieces:
            (self._content if isinstance(piece, TextDelta) else self._thinking).append(piece.text)
            events.append(piece)

    def partial(self) -> AIResponse:
        """What arrived so far, for an error's ``partial`` when the stream breaks."""
        return AIResponse(
            content="".join(self._content) + ("" if self._tags.inside else self._tags.pending),
            thinking="".join(self._thinking) or None,
            tool_calls=tuple(self._calls),
            finish_reason=FinishReason.TOOL_CALLS if self._calls else FinishReason.STOP,
            model=self.model,
        )

    def finish(self, *, model: str | None = None) -> AIResponse:
        """The whole reply, with finish reason, usage and timing metadata from the final object."""
        final = self._final
        done_reason = final.get("done_reason")
        if done_reason == "length":  # cut off, tool calls or not: the caller must not run them
            finish_reason = FinishReason.LENGTH
        elif self._calls:
            finish_reason = FinishReason.TOOL_CALLS
        else:
            finish_reason = FinishReason.STOP  # stop, load, unload, or a reason we do not know
        prompt_tokens = _int(final.get("prompt_eval_count"))
        completion_tokens = _int(final.get("eval_count"))
        metadata: dict[str, Any] = {}
        if isinstance(done_reason, str):
            metadata["done_reason"] = done_reason
        for key in DURATION_KEYS:
            if key in final and _int(final[key]):
                metadata[key] = _int(final[key])
        eval_duration = metadata.get("eval_duration")
        if eval_duration and completion_tokens:
            metadata["tokens_per_second"] = round(completion_tokens * 1e9 / eval_duration, 2)
        return AIResponse(
            content="".join(self._content),
            thinking="".join(self._thinking) or None,
            tool_calls=tuple(self._calls),
            finish_reason=finish_reason,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            model=self.model or model or "",
            metadata=metadata,
        )


def parse_chat_response(
    payload: Any, *, model: str = "", new_id: Callable[[], str] = new_tool_call_id
) -> AIResponse:
    """The reply of a non-streaming ``/api/chat`` call.

    Raises:
        LLMError: the body is an ``{"error": …}`` report.
        StreamError: the body is not a finished chat reply.
    """
    state = StreamState(model=model, new_id=new_id)
    state.feed(payload)
    if not state.done:
        raise StreamError("Ollama's reply has no `done: true`; the answer is incomplete", backend=BACKEND)
    return state.finish(model=model)


# --------------------------------------------------------------------------- render (fakes, tests)

_DONE_REASONS = {FinishReason.LENGTH: "length"}
_CREATED_AT = "2026-01-01T00:00:00.000000Z"


def _final_object(response: AIResponse, model: str) -> dict[str, Any]:
    final: dict[str, Any] = {
        "model": model,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": response.metadata.get(
            "done_reason", _DONE_REASONS.get(response.finish_reason, "stop")
        ),
    }
    for key in DURATION_KEYS:
        if key in response.metadata:
            final[key] = response.metadata[key]
    final["prompt_eval_count"] = response.usage.prompt_tokens
    final["eval_count"] = response.usage.completion_tokens
    return final


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def render_chat_stream(
    response: AIResponse, *, model: str | None = None, chunk_chars: int = 8, include_ids: bool = False
) -> list[dict[str, Any]]:
    """The stream objects Ollama would send for ``response`` (inverse of `StreamState`).

    Thinking comes first, then the content in pieces of ``chunk_chars`` characters, then one
    object with every tool call (as Ollama sends them, whole), then the ``done`` object.
    ``include_ids`` adds each call's ``id`` (newer servers send one; older ones do not).
    """
    name = model or response.model or "llama3.1"
    size = max(1, chunk_chars)

    def line(**message: Any) -> dict[str, Any]:
        return {
            "model": name,
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": "", **message},
            "done": False,
        }

    objects = [line(thinking=piece) for piece in _split(response.thinking or "", size)]
    objects += [line(content=piece) for piece in _split(response.content, size)]
    if response.tool_calls:
        objects.append(line(tool_calls=[_render_call(call, include_ids) for call in response.tool_calls]))
    objects.append(_final_object(response, name))
    return objects


def _render_call(call: ToolCall, include_id: bool) -> dict[str, Any]:
    arguments: Any = dict(call.arguments) if call.raw_arguments is None else call.raw_arguments
    wire: dict[str, Any] = {"function": {"name": call.name, "arguments": arguments}}
    if include_id:
        wire["id"] = call.id
    return wire


def render_chat_response(
    response: AIResponse, *, model: str | None = None, include_ids: bool = False
) -> dict[str, Any]:
    """The non-streaming body Ollama would send for ``response`` (inverse of `parse_chat_response`)."""
    name = model or response.model or "llama3.1"
    final = _final_object(response, name)
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if response.thinking:
        message["thinking"] = response.thinking
    if response.tool_calls:
        message["tool_calls"] = [_render_call(call, include_ids) for call in response.tool_calls]
    final["message"] = message
    return final
