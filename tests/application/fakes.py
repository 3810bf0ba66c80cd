"""Test doubles for the application layer: a scripted `LLMPort` that records what it was sent.

`FakeChatModel` stands above the wire on purpose: the use cases are tested against the port's
contract (events, a final `ResponseCompleted`, `LLMError` with ``partial``), while the wire-level
`adapters.llm.fake.FakeLLM` exercises the real parsers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import attrs

from domain.errors import LLMError
from domain.events import (
    ResponseCompleted,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
)
from domain.messages import AIResponse, ChatMessage, FinishReason, ToolCall, ToolDefinition, Usage
from domain.model_config import AIModel, Capabilities, DriverProfile, NormalizedModelConfig

FAKE_PROFILE = DriverProfile(
    driver="fake",
    defaults={"model": "fake-model", "temperature": 0.7, "max_tokens": 4096, "timeout": 30.0},
)
"""A driver profile for the scripted models of these tests (the adapters declare the real ones)."""


@attrs.frozen(kw_only=True)
class Fail:
    """A scripted failure: ``error`` is raised after ``text`` was streamed."""

    error: LLMError
    text: str = ""


@attrs.frozen(kw_only=True)
class Hang:
    """A scripted step that streams ``text`` and then waits until it is cancelled."""

    text: str = ""


Step = AIResponse | Fail | Hang


@attrs.frozen(kw_only=True)
class Request:
    """What one call of the fake was sent."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolDefinition, ...]
    config: NormalizedModelConfig


def answer(text: str, *, usage: Usage | None = None) -> AIResponse:
    return AIResponse(
        content=text,
        model="fake-model",
        usage=usage or Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
    )


def calls(*tool_calls: ToolCall, text: str = "") -> AIResponse:
    return AIResponse(
        content=text,
        tool_calls=tool_calls,
        finish_reason=FinishReason.TOOL_CALLS,
        model="fake-model",
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
    )


class FakeChatModel:
    """An `LLMPort` that replays a script of replies, failures and hangs, one per call."""

    def __init__(
        self,
        script: Sequence[Step] = (),
        *,
        name: str = "fake",
        config: NormalizedModelConfig | None = None,
        requests: list[Request] | None = None,
        shared_script: list[Step] | None = None,
        hanging: asyncio.Event | None = None,
    ) -> None:
        self.name = name
        self.config = config or NormalizedModelConfig(model="fake-model")
        self.requests: list[Request] = requests if requests is not None else []
        self._script: list[Step] = shared_script if shared_script is not None else list(script)
        self.closed = False
        self.hanging = hanging or asyncio.Event()
        """Set when a `Hang` step starts waiting."""

    def capabilities(self) -> Capabilities:
        return Capabilities(vision=True)

    def with_config(self, config: NormalizedModelConfig) -> FakeChatModel:
        return FakeChatModel(
            name=self.name, config=config, requests=self.requests, shared_script=self._script
        )

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AIResponse:
        async for event in self.stream(messages, tools=tools, config=config):
            if isinstance(event, ResponseCompleted):
                return event.response
        raise AssertionError("a stream always ends with ResponseCompleted")

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AsyncIterator[StreamEvent]:
        assert not self.closed, "the adapter was used after aclose()"
        self.requests.append(
            Request(messages=tuple(messages), tools=tuple(tools), config=config or self.config)
        )
        if not self._script:
            raise AssertionError("the fake model's script ran out: the loop asked for one call too many")
        step = self._script.pop(0)
        if isinstance(step, Fail):
            if step.text:
                yield TextDelta(text=step.text)
            raise step.error
        if isinstance(step, Hang):
            if step.text:
                yield TextDelta(text=step.text)
            self.hanging.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        if step.thinking:
            yield ThinkingDelta(text=step.thinking)
        if step.content:
            yield TextDelta(text=step.content)
        for index, call in enumerate(step.tool_calls):
            yield ToolCallStarted(index=index, id=call.id, name=call.name)
            yield ToolArgumentsDelta(
                index=index, fragment=call.raw_arguments or json.dumps(dict(call.arguments))
            )
        yield ResponseCompleted(response=step)

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        return (AIModel(name="fake-model"),)

    def count_tokens(self, text: str) -> int:
        return -(-len(text) // 4)

    def context_limit(self) -> int:
        return self.config.context_length or 4096

    async def aclose(self) -> None:
        self.closed = True
