"""Adapters on scripted HTTP, for the LLM contract suite and the per-backend tests.

Every backend in `BACKENDS` runs the whole contract suite (``test_llm_contract.py``). Adding
a backend is adding one entry: the fake wire format it speaks (``openai``, ``ollama``,
``anthropic``; see `adapters.llm.fake.register_wire`) and a function building the real
adapter on a given ``httpx`` transport, with retries off (retries are the engine's business
and are tested in ``test_http.py``). For example::

    "ollama": ContractBackend(
        wire="ollama",
        make=lambda transport: OllamaLLM(settings=OllamaSettings(max_retries=0), transport=transport),
    ),
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs
import pytest

from adapters.llm.anthropic import AnthropicLLM, AnthropicSettings
from adapters.llm.fake import FakeLLM, FakeStep, ScriptedTransport
from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings
from adapters.llm.ollama import OllamaLLM, OllamaSettings
from adapters.llm.openai import OpenAILLM, OpenAISettings
from adapters.llm.vllm import VLLMLLM, VLLMSettings
from domain.model_config import NormalizedModelConfig
from domain.ports import LLMPort


@attrs.frozen(kw_only=True)
class ContractBackend:
    """How to build one backend's adapter on scripted HTTP."""

    wire: str
    """The fake wire format the backend speaks."""
    make: Callable[[ScriptedTransport], LLMPort]
    """The real adapter on ``transport``, with retries off."""


BACKENDS: dict[str, ContractBackend] = {
    "fake": ContractBackend(
        wire="openai", make=lambda transport: FakeLLM(transport=transport, max_retries=0)
    ),
    "huggingface": ContractBackend(
        wire="openai",
        make=lambda transport: HuggingFaceLLM(
            settings=HuggingFaceSettings(api_key="hf_contract_token", max_retries=0),
            config=NormalizedModelConfig(model="meta-llama/Llama-3.1-8B-Instruct", timeout=30),
            transport=transport,
        ),
    ),
    "openai": ContractBackend(
        wire="openai",
        make=lambda transport: OpenAILLM(
            settings=OpenAISettings(api_key="sk-contract-key", max_retries=0),
            config=NormalizedModelConfig(model="gpt-4o", timeout=30),
            transport=transport,
        ),
    ),
    "claude": ContractBackend(
        wire="anthropic",
        make=lambda transport: AnthropicLLM(
            settings=AnthropicSettings(api_key="sk-ant-contract-key", max_retries=0),
            config=NormalizedModelConfig(model="claude-sonnet-4-5", timeout=30),
            transport=transport,
        ),
    ),
    "ollama": ContractBackend(
        wire="ollama",
        make=lambda transport: OllamaLLM(
            settings=OllamaSettings(max_retries=0),
            config=NormalizedModelConfig(model="llama3.1", timeout=30),
            transport=transport,
        ),
    ),
    "vllm": ContractBackend(
        wire="openai",
        make=lambda transport: VLLMLLM(
            settings=VLLMSettings(max_retries=0),
            config=NormalizedModelConfig(model="Qwen/Qwen2.5-7B-Instruct", timeout=30),
            transport=transport,
        ),
    ),
}


@attrs.frozen(kw_only=True)
class Scripted:
    """An adapter and the scripted transport behind it."""

    llm: LLMPort
    transport: ScriptedTransport

    @property
    def requests(self) -> list[Any]:
        """The JSON body of every request the adapter sent."""
        return self.transport.requests

    def tool_ids(self, body: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(assistant tool-call ids, tool-result ids) in a request body of this wire format."""
        return self.transport.wire.tool_ids(body)


def make_adapter(backend: str, script: Sequence[FakeStep]) -> Scripted:
    """``backend``'s real adapter answering from ``script``."""
    entry = BACKENDS[backend]
    transport = ScriptedTransport(script, wire=entry.wire)
    return Scripted(llm=entry.make(transport), transport=transport)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def scripted(backend: str) -> AsyncIterator[Callable[..., Scripted]]:
    """``scripted(*steps)``: the current backend's adapter on those steps; closed afterwards."""
    made: list[Scripted] = []

    def make(*steps: FakeStep) -> Scripted:
        adapter = make_adapter(backend, steps)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        await adapter.llm.aclose()
