"""The demo model of ``cw serve --demo``: which scene a message picks, and that it streams."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.llm.fake import FakeLLM, HTTPFailure
from adapters.settings import Settings
from adapters.web.demo import DemoTransport, demo_reply, serve_demo
from domain.errors import ConfigError
from domain.messages import AIResponse, ChatMessage, Role, ToolDefinition

TOOLS = [
    {"type": "function", "function": {"name": "read", "parameters": {}}},
    {"type": "function", "function": {"name": "confirm", "parameters": {}}},
]


def ask(text: str, tools: list[dict[str, Any]] | None = None) -> Any:
    return demo_reply({"messages": [{"role": "user", "content": text}], "tools": tools or []})


def test_each_word_picks_its_scene() -> None:
    assert isinstance(ask("please fail"), HTTPFailure)
    html = ask("some HTML please")
    assert isinstance(html, AIResponse)
    assert "<script>" in html.content
    assert "<img src=x onerror=" in html.content
    story = ask("a long story")
    assert isinstance(story, AIResponse)
    assert "Part 60" in story.content
    thought = ask("think about it")
    assert isinstance(thought, AIResponse)
    assert thought.thinking
    hello = ask("hi")
    assert isinstance(hello, AIResponse)
    assert "You wrote: “hi”" in hello.content


def test_tool_scenes_call_a_tool_only_when_the_request_offers_it() -> None:
    read = ask("read the poem", TOOLS)
    assert isinstance(read, AIResponse)
    assert [(c.name, dict(c.arguments)) for c in read.tool_calls] == [("read", {"file_path": "poem.txt"})]
    confirm = ask("confirm it", TOOLS)
    assert isinstance(confirm, AIResponse)
    assert [c.name for c in confirm.tool_calls] == ["confirm"]
    for text in ("read the poem", "confirm it"):
        answer = ask(text)
        assert isinstance(answer, AIResponse)
        assert answer.tool_calls == ()


@pytest.mark.parametrize(
    ("result", "expected"), [("approved", "You **approved**"), ("denied", "You said no")]
)
def test_the_answer_after_a_confirm_follows_the_person(result: str, expected: str) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "confirm", "arguments": "{}"}}
    reply = demo_reply(
        {
            "messages": [
                {"role": "user", "content": "confirm"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": result},
            ]
        }
    )
    assert isinstance(reply, AIResponse)
    assert reply.content.startswith(expected)


def test_a_read_result_is_quoted_back() -> None:
    call = {"id": "r1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
    reply = demo_reply(
        {
            "messages": [
                {"role": "user", "content": "read"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "r1", "content": "     1\t床前明月光"},
            ]
        }
    )
    assert isinstance(reply, AIResponse)
    assert "> " in reply.content
    assert "床前明月光" in reply.content


@pytest.mark.anyio
async def test_the_fake_backend_streams_the_demo_reply_in_many_pieces() -> None:
    llm = FakeLLM(transport=DemoTransport(delay=0))
    tools = [ToolDefinition(name="read", description="Read a file", parameters={"type": "object"})]
    events = [event async for event in llm.stream([ChatMessage(role=Role.USER, content="hi")], tools=tools)]
    assert len(events) > 20
    for _ in range(3):  # it never runs out, unlike a script
        again = [e async for e in llm.stream([ChatMessage(role=Role.USER, content="think")], tools=tools)]
        assert again


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["soon", "-1", "11"])
async def test_a_bad_demo_delay_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="CW_DEMO_DELAY"):
        async with serve_demo(Settings.load({"CW_DEMO_DELAY": value})):
            pass
