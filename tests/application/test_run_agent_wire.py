"""RunAgent over the wire-level `FakeLLM`: real SSE bytes, the real parsers, the real tool loop.

The in-test fake checks the loop's policy; this checks that the loop and the adapters agree
on the wire: the tool call id the model sent comes back on the tool message, and a stream
that breaks mid-way ends the run as failed with the partial answer kept in the error only.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.llm.fake import FakeLLM, MidStreamError, ScriptedTransport, Truncated
from adapters.llm.fake_spec import PROFILE as FAKE_PROFILE
from adapters.storage.memory import InMemoryConversationStore
from application.registry import BackendEntry, BackendRegistry
from application.run_agent import RunAgent
from application.tools import ToolRegistry
from domain.errors import LLMError, OverloadedError, TruncatedStreamError
from domain.events import RunStatus, TextDelta
from domain.messages import AIResponse, FinishReason, Role, ToolCall
from domain.model_config import Agent, NormalizedModelConfig

AGENT = Agent(name="wire", system_prompt="Be exact.", backend="fake", tools=("lookup",))


def _runner(*script: Any) -> tuple[RunAgent, ScriptedTransport, InMemoryConversationStore]:
    transport = ScriptedTransport(script)

    def factory(config: NormalizedModelConfig) -> FakeLLM:
        return FakeLLM(transport=transport, config=config, max_retries=0)

    tools = ToolRegistry()

    @tools.tool
    def lookup(word: str) -> str:
        """Look a word up."""
        return f"{word}: a small fruit"

    registry = BackendRegistry(
        [BackendEntry(name="fake", driver="fake", factory=factory, profile=FAKE_PROFILE)],
        default_backend="fake",
    )
    store = InMemoryConversationStore()
    return RunAgent(registry, store, tools), transport, store


@pytest.mark.anyio
async def test_tool_call_ids_survive_the_round_trip_through_the_wire() -> None:
    first = AIResponse(
        content="",
        tool_calls=(
            ToolCall(id="call_Ab1", name="lookup", arguments={"word": "kiwi"}),
            ToolCall(id="call_Cd2", name="lookup", arguments={"word": "lime"}),
        ),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    runner, transport, store = _runner(first, AIResponse(content="Kiwis and limes are fruits. 🥝"))
    events = [event async for event in runner.stream(AGENT, "What are kiwi and lime?", conversation_id="w")]
    ended = events[-1]
    assert ended.status is RunStatus.COMPLETED  # type: ignore[union-attr]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Kiwis and limes are fruits. 🥝"
    history = list(await store.load("w"))
    assert [m.tool_call_id for m in history if m.role is Role.TOOL] == ["call_Ab1", "call_Cd2"]
    # The second request carried the assistant's calls and both results, ids matching.
    second = transport.requests[1]
    sent = second["messages"]
    assert sent[0] == {"role": "system", "content": "Be exact."}
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert [call["id"] for call in assistant["tool_calls"]] == ["call_Ab1", "call_Cd2"]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == ["call_Ab1", "call_Cd2"]
    assert [m["content"] for m in sent if m["role"] == "tool"] == [
        "kiwi: a small fruit",
        "lime: a small fruit",
    ]
    assert second["tools"][0]["function"]["name"] == "lookup"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("step", "error_type"),
    [
        (MidStreamError(response=AIResponse(content="Half an answer that breaks"), after=2), OverloadedError),
        (
            Truncated(response=AIResponse(content="Cut off before the end of it"), after=2),
            TruncatedStreamError,
        ),
    ],
)
async def test_a_stream_that_breaks_fails_the_run_and_keeps_history_clean(
    step: Any, error_type: type
) -> None:
    runner, _, store = _runner(step)
    ended = await runner.run(AGENT, "Tell me", conversation_id="broken")
    assert ended.status is RunStatus.FAILED
    assert isinstance(ended.error, error_type)
    assert isinstance(ended.error, LLMError)
    assert ended.error.partial is not None
    assert ended.error.partial.content  # what arrived is kept in the error…
    assert [m.role for m in await store.load("broken")] == [Role.USER]  # …and not saved as an answer
