"""The OpenAI Chat Completions wire format, as pure functions over JSON values and domain objects.

Why one module: the Hugging Face router, OpenAI itself and Ollama's ``/v1`` all speak this
format (https://platform.openai.com/docs/api-reference/chat), each with its own quirks.
Building the request body, parsing a reply and following a stream live here, free of
``httpx``, so every backend that speaks the format shares them and tests can drive them
with plain dicts. Each parser has a ``render_*`` inverse used by the fake backend and the
property tests: ``parse_completion(render_completion(r)) == r`` and a `StreamState` fed
``render_stream(r)`` finishes as ``r``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from adapters.llm._errors import error_from_stream_payload
from adapters.llm._images import image_url as default_image_url
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.llm._thinking import ThinkTagSplitter
from adapters.llm._tool_calls import ToolCallAccumulator, new_call_id, parse_arguments
from domain.errors import StreamError
from domain.events import StreamEvent, TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    Role,
    ToolCall,
    ToolDefinition,
    Usage,
)
from domain.model_config import NormalizedModelConfig

__all__ = [
    "DEFAULT_BACKEND",
    "StreamQuirks",
    "StreamState",
    "build_request",
    "decode_stream_data",
    "estimate_tokens",
    "finish_reason_from_wire",
    "message_to_wire",
    "parse_completion",
    "render_completion",
    "render_stream",
    "render_stream_bytes",
    "sanitize_tool_name",
    "tool_name_map",
    "tool_to_wire",
]

DEFAULT_BACKEND = "openai-compatible"
DONE = "[DONE]"

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "eos_token": FinishReason.STOP,  # TGI
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "max_tokens": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "tool_use": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
_TOOL_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]")
_TOOL_CHOICE_KEYWORDS = frozenset({"auto", "none", "required"})

ImageURL = Callable[[ImageInput], str]
_NO_DELTA: Mapping[str, Any] = {}


# --- request ------------------------------------------------------------------------------


def sanitize_tool_name(name: str) -> str:
    """A tool name reduced to what every provider accepts: ``[A-Za-z0-9_-]``, at most 64 chars."""
    cleaned = _TOOL_NAME_INVALID.sub("_", name)[:64]
    return cleaned or "tool"


def _sanitized_names(names: Iterable[str]) -> dict[str, str]:
    """original -> wire name, unique even when two names reduce to the same text."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if name in out:
            continue
        candidate = base = sanitize_tool_name(name)
        counter = 2
        while candidate in used:
            suffix = f"_{counter}"
            candidate = base[: 64 - len(suffix)] + suffix
            counter += 1
        used.add(candidate)
        out[name] = candidate
    return out


def tool_name_map(tools: Sequence[ToolDefinition]) -> dict[str, str]:
    """wire name -> original name, to map parsed tool calls back to the tools we offered."""
    return {wire: original for original, wire in _sanitized_names(t.name for t in tools).items()}


def tool_to_wire(tool: ToolDefinition, *, wire_name: str | None = None) -> dict[str, Any]:
    """One tool as ``{"type": "function", "function": {name, description, parameters}}``."""
    parameters = dict(tool.parameters)
    parameters.setdefault("type", "object")
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        # An empty PHP array or a list would go out as [] and be rejected: always an object.
        parameters["properties"] = {}
    function: dict[str, Any] = {"name": wire_name or sanitize_tool_name(tool.name)}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = parameters
    return {"type": "function", "function": function}


def _arguments_text(call: ToolCall) -> str:
    if call.parse_error is not None and call.raw_arguments is not None:
        return call.raw_arguments  # send back exactly what the model said
    return json.dumps(dict(call.arguments), ensure_ascii=False)


def _tool_call_to_wire(call: ToolCall, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {
            "name": names.get(call.name) or sanitize_tool_name(call.name),
            "arguments": _arguments_text(call),
        },
    }


def message_to_wire(
    message: ChatMessage,
    *,
    image_url: ImageURL = default_image_url,
    tool_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One message in the Chat Completions shape.

    Thinking is not sent back (the format has no field for it, and some providers refuse
    ``reasoning_content`` on input); a tool message carries only ``tool_call_id`` and
    ``content``, which every OpenAI-compatible server accepts.

    Args:
        message: the message.
        image_url: turns an attached image into an ``image_url`` string (reads files).
        tool_names: original tool name -> wire name, for assistant tool calls.
    """
    names = tool_names or {}
    if message.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role is Role.ASSISTANT:
        wire: dict[str, Any] = {"role": "assistant"}
        if message.tool_calls:
            wire["content"] = message.content or None
            wire["tool_calls"] = [_tool_call_to_wire(call, names) for call in message.tool_calls]
        else:
            wire["content"] = message.content
        return wire
    if message.images:
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        parts.extend(
            {"type": "image_url", "image_url": {"url": image_url(image)}} for image in message.images
        )
        return {"role": message.role.value, "content": parts}
    return {"role": message.role.value, "content": message.content}


def _tool_choice(choice: str | Mapping[str, Any], names: Mapping[str, str]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice in _TOOL_CHOICE_KEYWORDS:
            return choice
        return {"type": "function", "function": {"name": names.get(choice) or sanitize_tool_name(choice)}}
    return dict(choice)


def build_request(
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolDefinition],
    config: NormalizedModelConfig,
    *,
    stream: bool,
    include_usage: bool = True,
    max_tokens_key: str = "max_tokens",
    image_url: ImageURL = default_image_url,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a ``POST /chat/completions``.

    Args:
        messages: the conversation in order; the caller puts the system prompt first.
        tools: the tools offered; names are reduced to ``[A-Za-z0-9_-]`` (see `tool_name_map`).
        config: model and sampling settings; ``None`` values are left out.
        stream: whether to ask for a server-sent event stream.
        include_usage: when streaming, ask for a final usage chunk (``stream_options``).
        max_tokens_key: ``max_tokens``, or ``max_completion_tokens`` for OpenAI's newer models.
        image_url: turns an attached image into an ``image_url`` string.
        extra: provider-specific fields, merged last (they win).

    Raises:
        ConfigError: an attached image cannot be read (from ``image_url``).
    """
    names = _sanitized_names(t.name for t in tools)
    body: dict[str, Any] = {"model": config.model}  # first: routers read the model from a prefix
    body["messages"] = [message_to_wire(m, image_url=image_url, tool_names=names) for m in messages]
    if tools:
        body["tools"] = [tool_to_wire(t, wire_name=names[t.name]) for t in tools]
        if config.tool_choice is not None:
            body["tool_choice"] = _tool_choice(config.tool_choice, names)
    options: dict[str, Any] = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        max_tokens_key: config.max_tokens,
        "frequency_penalty": config.frequency_penalty,
        "presence_penalty": config.presence_penalty,
        "seed": config.seed,
        "reasoning_effort": config.reasoning_effort,
    }
    body.update({key: value for key, value in options.items() if value is not None})
    if config.stop:
        body["stop"] = list(config.stop)
    if config.response_format is not None:
        body["response_format"] = dict(config.response_format)
    body["stream"] = stream
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    if extra:
        body.update(extra)
    return body


# --- replies ------------------------------------------------------------------------------


def finish_reason_from_wire(value: Any) -> FinishReason:
    """Map a wire finish reason; unknown or missing reasons are ``stop``."""
    if isinstance(value, str):
        return _FINISH_REASONS.get(value, FinishReason.STOP)
    return FinishReason.STOP


def estimate_tokens(chars: int) -> int:
    """Our token estimate for a text length: ``ceil(chars / 4)``."""
    return math.ceil(chars / 4)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def _usage_from_wire(usage: Any) -> Usage | None:
    if not isinstance(usage, Mapping):
        return None
    prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    total = _int(usage.get("total_tokens")) or prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _estimated_usage(prompt_chars: int, completion_chars: int) -> Usage:
    prompt, completion = estimate_tokens(prompt_chars), estimate_tokens(completion_chars)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion, estimated=True
    )


def _text_of(content: Any) -> str:
    """Message content: a string, null, or a list of ``{"type": "text", "text": …}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) and isinstance(part.get("text"), str) else ""
            for part in content
        )
    return ""


def _reasoning_of(source: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _metadata(payload: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if isinstance(payload.get("id"), str) and payload["id"]:
        metadata["response_id"] = payload["id"]
    if isinstance(payload.get("system_fingerprint"), str) and payload["system_fingerprint"]:
        metadata["system_fingerprint"] = payload["system_fingerprint"]
    return metadata


def _model_of(payload: Mapping[str, Any]) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) else ""


def _call_from_wire(entry: Mapping[str, Any], names: Mapping[str, str]) -> ToolCall:
    function = entry.get("function")
    if not isinstance(function, Mapping):
        function = entry  # a flat {"name": …, "arguments": …} entry
    raw_name = function.get("name")
    name: str = raw_name if isinstance(raw_name, str) else ""
    name = names.get(name, name)
    raw_id = entry.get("id")
    call_id: str = raw_id if isinstance(raw_id, str) and raw_id else new_call_id()
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        return ToolCall(id=call_id, name=name, arguments=dict(arguments))  # TGI sends an object
    if arguments is None:
        return ToolCall(id=call_id, name=name)
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    parsed, error = parse_arguments(raw)
    if error is None:
        return ToolCall(id=call_id, name=name, arguments=parsed)
    return ToolCall(id=call_id, name=name, raw_arguments=raw, parse_error=error)


def _split_think_tags(content: str) -> tuple[str, str]:
    if "<think>" not in content:
        return content, ""
    splitter = ThinkTagSplitter()
    text: list[str] = []
    thinking: list[str] = []
    for event in (*splitter.feed(content), *splitter.flush()):
        (thinking if isinstance(event, ThinkingDelta) else text).append(event.text)
    return "".join(text), "".join(thinking)


def parse_completion(
    payload: Any,
    *,
    tool_names: Mapping[str, str] | None = None,
    backend: str = DEFAULT_BACKEND,
    model: str | None = None,
    provider: str | None = None,
    prompt_chars: int = 0,
    advice: Mapping[int, str] | None = None,
) -> AIResponse:
    """The `AIResponse` of a non-streaming reply body.

    Args:
        payload: the parsed JSON body.
        tool_names: wire name -> original name (see `tool_name_map`).
        backend: the backend name, for errors.
        model: the requested model, used when the body names none, and for errors.
        provider: the serving provider, for errors.
        prompt_chars: length of the prompt, for the usage estimate when the body has none.
        advice: per-status guidance for an ``{"error": …}`` body (see `error_for_status`).

    Raises:
        LLMError: the body is an ``{"error": …}`` object (classified by what it says).
        StreamError: the body is not a completion (not an object, or no choices).
    """
    if not isinstance(payload, Mapping):
        raise StreamError(
            f"{backend} sent a reply that is not a JSON object",
            backend=backend,
            model=model,
            provider=provider,
        )
    if payload.get("error"):
        raise error_from_stream_payload(
            payload, backend=backend, model=model, provider=provider, advice=advice
        )
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise StreamError(
            f"{backend} sent a reply without choices; the provider may not support this model",
            backend=backend,
            model=model,
            provider=provider,
        )
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        message = {}
    names = tool_names or {}
    content, tag_thinking = _split_think_tags(_text_of(message.get("content")))
    thinking = _reasoning_of(message) + tag_thinking
    raw_calls = message.get("tool_calls")
    if isinstance(raw_calls, Mapping):
        raw_calls = [raw_calls]
    calls = [_call_from_wire(c, names) for c in raw_calls or () if isinstance(c, Mapping)]
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, Mapping):
        calls = [_call_from_wire({"function": legacy}, names)]
    finish = finish_reason_from_wire(choice.get("finish_reason"))
    if calls and finish is FinishReason.STOP:
        finish = FinishReason.TOOL_CALLS
    usage = _usage_from_wire(payload.get("usage"))
    if usage is None:
        completion_chars = len(content) + len(thinking) + sum(len(_arguments_text(c)) for c in calls)
        usage = _estimated_usage(prompt_chars, completion_chars)
    return AIResponse(
        content=content,
        thinking=thinking or None,
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage,
        model=_model_of(payload) or model or "",
        metadata=_metadata(payload),
    )


# --- streams ------------------------------------------------------------------------------


def decode_stream_data(
    data: str, *, backend: str = DEFAULT_BACKEND, model: str | None = None, provider: str | None = None
) -> Mapping[str, Any] | None:
    """One SSE ``data`` payload as JSON; ``None`` for the ``[DONE]`` sentinel.

    Raises:
        StreamError: the data is neither ``[DONE]`` nor a JSON object.
    """
    if data.startswith(DONE):
        return None
    try:
        value = json.loads(data)
    except RecursionError:
        raise StreamError(
            f"{backend} sent a stream event whose JSON is nested too deeply to read",
            backend=backend,
            model=model,
            provider=provider,
        ) from None
    except ValueError:
        snippet = data[:80]
        raise StreamError(
            f"{backend} sent a stream event that is not JSON: {snippet!r}",
            backend=backend,
            model=model,
            provider=provider,
        ) from None
    if not isinstance(value, Mapping):
        raise StreamError(
            f"{backend} sent a stream event that is not a JSON object",
            backend=backend,
            model=model,
            provider=provider,
        )
    return value


class StreamState:
    """Follows one streamed reply: feed each parsed ``data:`` JSON, then `finish`.

    Feeding is cheap: text is collected as a list of parts and joined once at the end.
    The stream is complete (`done`) once a finish reason arrived or `mark_done` was
    called for ``[DONE]``; a stream that ends otherwise was truncated, which the caller
    reports.

    Args:
        backend: the backend name, for errors.
        model: the requested model, used when the stream names none.
        provider: the serving provider, for errors.
        tool_names: wire name -> original name (see `tool_name_map`).
        prompt_chars: length of the prompt, for the usage estimate when none is sent.
        advice: per-status guidance for an in-stream ``{"error": …}`` (see `error_for_status`).
    """

    def __init__(
        self,
        *,
        backend: str = DEFAULT_BACKEND,
        model: str | None = None,
        provider: str | None = None,
        tool_names: Mapping[str, str] | None = None,
        prompt_chars: int = 0,
        advice: Mapping[int, str] | None = None,
    ) -> None:
        self.backend = backend
        self.advice = advice
        self.provider = provider
        self._requested_model = model
        self._tool_names = dict(tool_names or {})
        self._prompt_chars = prompt_chars
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._splitter = ThinkTagSplitter()
        self._tools = ToolCallAccumulator()
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._model = ""
        self._metadata: dict[str, Any] = {}
        self._seen_id = False
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the model said it finished (a finish reason, or ``[DONE]``)."""
        return self._done

    @property
    def has_output(self) -> bool:
        """Whether any text, thinking or tool call has arrived."""
        return bool(self._content or self._thinking or self._tools)

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        """Take one chunk; return the events it carries.

        Raises:
            LLMError: the chunk is an ``{"error": …}`` object; ``partial`` holds what came.
        """
        # The hot path of every streamed token: dict membership and exact type checks,
        # not isinstance(…, Mapping) (an ABC check costs more than the rest together).
        if chunk.get("error"):
            error = error_from_stream_payload(
                chunk,
                backend=self.backend,
                model=self._model or self._requested_model,
                provider=self.provider,
                advice=self.advice,
            )
            error.partial = self.partial()
            raise error
        if not self._seen_id:
            self._take_envelope(chunk)
        if chunk.get("usage"):
            self._usage = _usage_from_wire(chunk["usage"]) or self._usage
        choices = chunk.get("choices")
        if not choices or type(choices) is not list:
            return []
        choice = choices[0]
        if type(choice) is not dict and not isinstance(choice, Mapping):
            return []
        delta = choice.get("delta") or choice.get("message") or _NO_DELTA
        if type(delta) is not dict and not isinstance(delta, Mapping):
            return []
        events: list[StreamEvent] = []
        if "reasoning_content" in delta or "reasoning" in delta:
            reasoning = _reasoning_of(delta)
            if reasoning:
                self._thinking.append(reasoning)
                events.append(ThinkingDelta(text=reasoning))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                content = _text_of(content)
            if self._splitter.plain and "<" not in content:
                self._content.append(content)
                events.append(TextDelta(text=content))
            else:
                self._take_text(self._splitter.feed(content), events)
        if "tool_calls" in delta:
            calls = delta["tool_calls"]
            if calls:
                self._take_calls(self._tools.feed(calls), events)
        elif "function_call" in delta and isinstance(delta["function_call"], Mapping):
            self._take_calls(self._tools.feed({"index": 0, "function": delta["function_call"]}), events)
        reason = choice.get("finish_reason")
        if reason:
            self._finish = finish_reason_from_wire(reason)
            self._done = True
            self._take_text(self._splitter.flush(), events)
        return events

    def _take_envelope(self, chunk: Mapping[str, Any]) -> None:
        """Facts about the whole reply (id, model, fingerprint), from the chunks that carry them.

        Providers send them on every chunk or on the first; once a chunk with an id was seen
        we stop looking, so a long stream pays nothing for this.
        """
        for key, value in _metadata(chunk).items():
            self._metadata.setdefault(key, value)
        if not self._model:
            self._model = _model_of(chunk)
        self._seen_id = "response_id" in self._metadata

    def mark_done(self) -> list[StreamEvent]:
        """The ``[DONE]`` sentinel arrived; returns text the think-tag splitter held back."""
        self._done = True
        events: list[StreamEvent] = []
        self._take_text(self._splitter.flush(), events)
        return events

    def _take_text(self, deltas: list[TextDelta | ThinkingDelta], events: list[StreamEvent]) -> None:
        for delta in deltas:
            (self._content if type(delta) is TextDelta else self._thinking).append(delta.text)
        events.extend(deltas)

    def _take_calls(
        self, deltas: list[ToolCallStarted | ToolArgumentsDelta], events: list[StreamEvent]
    ) -> None:
        for delta in deltas:
            if isinstance(delta, ToolCallStarted) and delta.name in self._tool_names:
                delta = attrs.evolve(delta, name=self._tool_names[delta.name])
            events.append(delta)

    def _calls(self) -> tuple[ToolCall, ...]:
        calls = self._tools.finish()
        if not self._tool_names:
            return calls
        return tuple(
            attrs.evolve(c, name=self._tool_names[c.name]) if c.name in self._tool_names else c for c in calls
        )

    def partial(self) -> AIResponse:
        """What has arrived so far (text held back by the splitter included)."""
        pending = self._splitter.pending
        extra = pending if not self._splitter.inside else ""
        return self._build(self._calls(), extra_text=extra, metadata=None, model=None)

    def finish(self, *, model: str | None = None, metadata: Mapping[str, Any] | None = None) -> AIResponse:
        """The whole reply. Usage is the provider's, or an estimate flagged ``estimated=True``.

        Args:
            model: overrides the model the stream named.
            metadata: extra facts merged into the response metadata (e.g. ``provider``).
        """
        self._take_text(self._splitter.flush(), [])
        return self._build(self._calls(), extra_text="", metadata=metadata, model=model)

    def _build(
        self,
        calls: tuple[ToolCall, ...],
        *,
        extra_text: str,
        metadata: Mapping[str, Any] | None,
        model: str | None,
    ) -> AIResponse:
        content = "".join(self._content) + extra_text
        thinking = "".join(self._thinking)
        finish = self._finish or FinishReason.STOP
        if calls and finish is FinishReason.STOP:
            finish = FinishReason.TOOL_CALLS
        usage = self._usage
        if usage is None:
            completion_chars = len(content) + len(thinking) + sum(len(_arguments_text(c)) for c in calls)
            usage = _estimated_usage(self._prompt_chars, completion_chars)
        return AIResponse(
            content=content,
            thinking=thinking or None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
            model=model or self._model or self._requested_model or "",
            metadata={**self._metadata, **(metadata or {})},
        )


# --- inverses, for fakes and property tests -----------------------------------------------


def _usage_to_wire(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _envelope(response: AIResponse, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "response_id" in response.metadata:
        body["id"] = response.metadata["response_id"]
    body["object"] = kind
    if response.model:
        body["model"] = response.model
    if "system_fingerprint" in response.metadata:
        body["system_fingerprint"] = response.metadata["system_fingerprint"]
    return body


def render_completion(response: AIResponse, *, reasoning_field: str = "reasoning_content") -> dict[str, Any]:
    """The non-streaming body that `parse_completion` turns back into ``response``.

    An estimated usage is left out (the parser estimates again); only ``response_id`` and
    ``system_fingerprint`` of the metadata have a place on the wire.
    """
    message: dict[str, Any] = {"role": "assistant"}
    message["content"] = response.content or (None if response.tool_calls else "")
    if response.thinking:
        message[reasoning_field] = response.thinking
    if response.tool_calls:
        message["tool_calls"] = [
            _tool_call_to_wire(call, {call.name: call.name}) for call in response.tool_calls
        ]
    body = _envelope(response, "chat.completion")
    body["choices"] = [{"index": 0, "message": message, "finish_reason": response.finish_reason.value}]
    if not response.usage.estimated:
        body["usage"] = _usage_to_wire(response.usage)
    return body


@attrs.frozen(kw_only=True)
class StreamQuirks:
    """Provider quirks `render_stream` can reproduce, so tests cover what real servers send.

    Attributes:
        repeat_ids: repeat ``id``, ``type`` and ``name`` in every tool-call chunk.
        index: ``"present"`` (the standard), ``"missing"`` (no key) or ``"null"``.
        empty_name_first: open each tool call with an empty-string name, the name following.
        arguments_as_object: send each valid call's arguments whole, as a JSON object.
        interleave: send the fragments of parallel calls round-robin (needs an index or
            repeated ids to be unambiguous; without either the calls go one after another).
        reasoning_field: ``reasoning_content`` or ``reasoning``.
        think_tags: put the thinking in the content between ``<think>`` tags instead.
        usage_chunk: send usage in a final chunk with empty ``choices`` (OpenAI
            ``include_usage``) rather than in the finish chunk.
        done: whether a ``[DONE]`` sentinel follows (only `render_stream_bytes`).
    """

    repeat_ids: bool = False
    index: str = attrs.field(
        default="present", validator=attrs.validators.in_(("present", "missing", "null"))
    )
    empty_name_first: bool = False
    arguments_as_object: bool = False
    interleave: bool = False
    reasoning_field: str = "reasoning_content"
    think_tags: bool = False
    usage_chunk: bool = True
    done: bool = True


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _call_chunks(response: AIResponse, chunk_size: int, quirks: StreamQuirks) -> list[dict[str, Any]]:
    """The ``delta.tool_calls`` entries, in the order they are sent."""
    per_call: list[list[dict[str, Any]]] = []
    for index, call in enumerate(response.tool_calls):

        def entry(
            extra: dict[str, Any], *, head: bool, index: int = index, call: ToolCall = call
        ) -> dict[str, Any]:
            item: dict[str, Any] = {}
            if quirks.index == "present":
                item["index"] = index
            elif quirks.index == "null":
                item["index"] = None
            if head or quirks.repeat_ids:
                item["id"] = call.id
                item["type"] = "function"
                extra = {"name": call.name, **extra}
            item["function"] = extra
            return item

        entries: list[dict[str, Any]] = []
        if quirks.empty_name_first:
            first = entry({"arguments": ""}, head=True)
            first["function"]["name"] = ""
            entries.append(first)
            entries.append(entry({"arguments": ""}, head=True))
        if quirks.arguments_as_object and call.parse_error is None:
            entries.append(entry({"arguments": dict(call.arguments)}, head=True))
        else:
            text = _arguments_text(call)
            fragments = _pieces(text, chunk_size) or [""]
            for number, fragment in enumerate(fragments):
                entries.append(
                    entry({"arguments": fragment}, head=number == 0 and not quirks.empty_name_first)
                )
        per_call.append(entries)
    unambiguous = quirks.index == "present" or quirks.repeat_ids
    if quirks.interleave and unambiguous and len(per_call) > 1:
        ordered: list[dict[str, Any]] = []
        # Heads first, in call order, so every call is opened before fragments interleave.
        for entries in per_call:
            ordered.append(entries[0])
        longest = max(len(entries) for entries in per_call)
        for position in range(1, longest):
            for entries in per_call:
                if position < len(entries):
                    ordered.append(entries[position])
        return ordered
    return [entry for entries in per_call for entry in entries]


def render_stream(
    response: AIResponse, *, chunk_size: int = 16, quirks: StreamQuirks | None = None
) -> list[dict[str, Any]]:
    """The stream chunks a `StreamState` turns back into ``response``.

    Args:
        response: the reply to render.
        chunk_size: the most characters of text or arguments per chunk.
        quirks: provider quirks to reproduce.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    quirks = quirks or StreamQuirks()
    envelope = _envelope(response, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if response.thinking:
        if quirks.think_tags:
            text = f"<think>{response.thinking}</think>"
            chunks.extend(chunk({"content": piece}) for piece in _pieces(text, chunk_size))
        else:
            field = quirks.reasoning_field
            chunks.extend(chunk({field: piece}) for piece in _pieces(response.thinking, chunk_size))
    chunks.extend(chunk({"content": piece}) for piece in _pieces(response.content, chunk_size))
    chunks.extend(chunk({"tool_calls": [entry]}) for entry in _call_chunks(response, chunk_size, quirks))
    last = chunk({}, response.finish_reason.value)
    if response.usage.estimated:
        chunks.append(last)
    elif quirks.usage_chunk:
        chunks.append(last)
        chunks.append({**envelope, "choices": [], "usage": _usage_to_wire(response.usage)})
    else:
        chunks.append({**last, "usage": _usage_to_wire(response.usage)})
    return chunks


def render_stream_bytes(
    response: AIResponse,
    *,
    chunk_size: int = 16,
    quirks: StreamQuirks | None = None,
    newline: str = "\n",
) -> bytes:
    """`render_stream` as SSE bytes, followed by ``data: [DONE]`` unless ``quirks.done`` is off."""
    quirks = quirks or StreamQuirks()
    events = [
        ServerSentEvent(data=json.dumps(c, ensure_ascii=False, separators=(",", ":")))
        for c in render_stream(response, chunk_size=chunk_size, quirks=quirks)
    ]
    if quirks.done:
        events.append(ServerSentEvent(data=DONE))
    return render_sse(events, newline=newline)
