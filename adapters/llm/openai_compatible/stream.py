"""Streams in the OpenAI Chat Completions format: each ``data:`` JSON → stream events.

`StreamState` follows one streamed reply chunk by chunk (text, thinking, tool-call
fragments, usage, in-stream errors) and rebuilds the whole `AIResponse` at the end; the
hot path of every token lives here, kept to dict lookups and exact type checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from adapters.llm._errors import error_from_stream_payload
from adapters.llm._thinking import ThinkTagSplitter
from adapters.llm._tool_calls import ToolCallAccumulator
from adapters.llm.openai_compatible.request import arguments_text
from adapters.llm.openai_compatible.response import (
    DEFAULT_BACKEND,
    bad_reply,
    estimated_usage,
    finish_reason_from_wire,
    metadata_of,
    model_of,
    reasoning_of,
    text_of,
    usage_from_wire,
)
from domain.events import StreamEvent, TextDelta, ThinkingDelta, ToolArgumentsDelta, ToolCallStarted
from domain.messages import AIResponse, FinishReason, ToolCall, Usage

__all__ = ["DONE", "StreamState", "decode_stream_data"]

DONE = "[DONE]"

_NO_DELTA: Mapping[str, Any] = {}


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
        raise bad_reply(
            "a stream event whose JSON is nested too deeply to read",
            backend=backend,
            model=model,
            provider=provider,
        ) from None
    except ValueError:
        snippet = data[:80]
        raise bad_reply(
            f"a stream event that is not JSON: {snippet!r}", backend=backend, model=model, provider=provider
        ) from None
    if not isinstance(value, Mapping):
        raise bad_reply(
            "a stream event that is not a JSON object", backend=backend, model=model, provider=provider
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
            self._usage = usage_from_wire(chunk["usage"]) or self._usage
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
            reasoning = reasoning_of(delta)
            if reasoning:
                self._thinking.append(reasoning)
                events.append(ThinkingDelta(text=reasoning))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                content = text_of(content)
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
        for key, value in metadata_of(chunk).items():
            self._metadata.setdefault(key, value)
        if not self._model:
            self._model = model_of(chunk)
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
            completion_chars = len(content) + len(thinking) + sum(len(arguments_text(c)) for c in calls)
            usage = estimated_usage(self._prompt_chars, completion_chars)
        return AIResponse(
            content=content,
            thinking=thinking or None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
            model=model or self._model or self._requested_model or "",
            metadata={**self._metadata, **(metadata or {})},
        )
