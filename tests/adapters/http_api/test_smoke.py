from __future__ import annotations

import pytest

from domain.messages import AIResponse, Usage
from tests.adapters.http_api.conftest import Api


@pytest.mark.anyio
async def test_a_message_streams_to_its_terminal_event(api: Api) -> None:
    api.script(
        AIResponse(content="Hello there", usage=Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5))
    )
    agent = await api.agent()
    conversation = await api.conversation(agent["id"])
    sent = await api.request("POST", f"/conversations/{conversation['id']}/messages", json={"content": "hi"})
    assert sent.status_code == 202, sent.text
    events = await api.stream(conversation["id"])
    print(events)
    assert events[-1].type == "completed"
