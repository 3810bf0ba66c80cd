"""One consumer per library, each reading a whole stream and counting the chunks it saw.

A consumer is built once per stream (``open(base_url, prefix)``: clients, connection
pools) and then called repeatedly, so the timed part is the request and the stream, not
the construction of a client. Every consumer does the work a caller needs: decode the
frames and parse each JSON payload (ours also reassembles tool calls and builds the
final response, which the raw baselines do not).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

Consume = Callable[[], Awaitable[int]]
Opener = Callable[[str, str], Any]  # (base_url, prefix) -> async context manager yielding Consume

MESSAGES = [{"role": "user", "content": "Benchmark me."}]
HF_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
OPENAI_BODY = {"model": HF_MODEL, "messages": MESSAGES, "stream": True}
OLLAMA_BODY = {"model": "llama3.1", "messages": MESSAGES, "stream": True}
ANTHROPIC_BODY = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": MESSAGES, "stream": True}


async def _count_events(events: AsyncIterator[Any]) -> int:
    """Events of one of our streams; the last must be the rebuilt response."""
    from domain.events import ResponseCompleted

    count = 0
    last = None
    async for event in events:
        count += 1
        last = event
    if not isinstance(last, ResponseCompleted):
        raise RuntimeError(f"the stream ended without a response: {last!r}")
    if not (last.response.content or last.response.tool_calls):
        raise RuntimeError("the rebuilt response is empty")
    return count


@asynccontextmanager
async def _ours(llm: Any) -> AsyncIterator[Consume]:
    """A consumer over one of our adapters: every event, checked to end with the response."""
    from domain.messages import ChatMessage

    messages = [ChatMessage.user("Benchmark me.")]

    async def consume() -> int:
        return await _count_events(llm.stream(messages))

    try:
        yield consume
    finally:
        await llm.aclose()


# --- OpenAI-compatible SSE (the Hugging Face router) ------------------------------------------


@asynccontextmanager
async def raw_httpx_sse(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    async with httpx.AsyncClient(base_url=base_url + prefix, timeout=60) as client:

        async def consume() -> int:
            count = 0
            async with client.stream("POST", "/chat/completions", json=OPENAI_BODY) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    json.loads(data)
                    count += 1
            return count

        yield consume


@asynccontextmanager
async def httpx_sse_client(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    from httpx_sse import aconnect_sse

    async with httpx.AsyncClient(base_url=base_url + prefix, timeout=60) as client:

        async def consume() -> int:
            count = 0
            async with aconnect_sse(client, "POST", "/chat/completions", json=OPENAI_BODY) as source:
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        break
                    json.loads(event.data)
                    count += 1
            return count

        yield consume


@asynccontextmanager
async def openai_python(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=base_url + prefix, api_key="sk-bench", max_retries=0) as client:

        async def consume() -> int:
            count = 0
            stream = await client.chat.completions.create(model=HF_MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
            async for _chunk in stream:
                count += 1
            return count

        yield consume


@asynccontextmanager
async def huggingface_hub(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    from huggingface_hub import AsyncInferenceClient

    client = AsyncInferenceClient(base_url=base_url + prefix, api_key="hf_bench")

    async def consume() -> int:
        count = 0
        stream = await client.chat_completion(MESSAGES, model=HF_MODEL, stream=True)  # type: ignore[arg-type]
        async for _chunk in stream:
            count += 1
        return count

    try:
        yield consume
    finally:
        await client.close()


def ours_huggingface(base_url: str, prefix: str) -> Any:
    from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings

    return _ours(
        HuggingFaceLLM.from_settings(HuggingFaceSettings(api_key="hf_bench", base_url=base_url + prefix))
    )


def ours_openai(base_url: str, prefix: str) -> Any:
    from adapters.llm.openai import OpenAILLM, OpenAISettings

    settings = OpenAISettings(api_key="sk-bench", base_url=base_url + prefix, model=HF_MODEL)
    return _ours(OpenAILLM.from_settings(settings))


# --- Ollama NDJSON ------------------------------------------------------------------------------


@asynccontextmanager
async def raw_httpx_ndjson(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    async with httpx.AsyncClient(base_url=base_url + prefix, timeout=60) as client:

        async def consume() -> int:
            count = 0
            async with client.stream("POST", "/api/chat", json=OLLAMA_BODY) as response:
                async for line in response.aiter_lines():
                    if line:
                        json.loads(line)
                        count += 1
            return count

        yield consume


@asynccontextmanager
async def ollama_python(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    from ollama import AsyncClient

    client = AsyncClient(host=base_url + prefix)

    async def consume() -> int:
        count = 0
        async for _part in await client.chat(model="llama3.1", messages=MESSAGES, stream=True):
            count += 1
        return count

    yield consume


def ours_ollama(base_url: str, prefix: str) -> Any:
    from adapters.llm.ollama import OllamaLLM, OllamaSettings

    return _ours(OllamaLLM.from_settings(OllamaSettings(base_url=base_url + prefix)))


# --- Anthropic events ---------------------------------------------------------------------------


@asynccontextmanager
async def raw_httpx_anthropic(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    async with httpx.AsyncClient(base_url=base_url + prefix + "/v1", timeout=60) as client:

        async def consume() -> int:
            count = 0
            async with client.stream("POST", "/messages", json=ANTHROPIC_BODY) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        json.loads(line[6:])
                        count += 1
            return count

        yield consume


@asynccontextmanager
async def anthropic_sdk(base_url: str, prefix: str) -> AsyncIterator[Consume]:
    import warnings

    from anthropic import AsyncAnthropic

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    async with AsyncAnthropic(base_url=base_url + prefix, api_key="sk-ant-bench", max_retries=0) as client:

        async def consume() -> int:
            count = 0
            stream = await client.messages.create(**ANTHROPIC_BODY)  # type: ignore[call-overload]
            async for _event in stream:
                count += 1
            return count

        yield consume


def ours_anthropic(base_url: str, prefix: str) -> Any:
    from adapters.llm.anthropic import AnthropicLLM, AnthropicSettings

    settings = AnthropicSettings(api_key="sk-ant-bench", base_url=base_url + prefix + "/v1")
    return _ours(AnthropicLLM(settings=settings))
