"""Embed Chinese Worker in your own program: an agent with a custom Python tool.

Runs offline as it stands: the ``test`` environment makes the scripted fake backend the
default, and the script below plays the model (it calls ``get_weather``, then answers).
For a real model, build the container with ``build_container("production")`` and a
``HUGGINGFACE_API_KEY`` in the environment or ``.env``, and drop the ``fake_script`` line.

    python docs/examples/embed_custom_tool.py
"""

from __future__ import annotations

import asyncio
from typing import Literal

from dependency_injector import providers

from adapters.container import build_container
from application.run_agent import RunAgent
from domain.events import RunEnded, TextDelta, ToolExecutionFinished
from domain.messages import AIResponse, ToolCall
from domain.model_config import Agent


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, object]:
    """Current weather in a city.

    Args:
        city: the city's name, e.g. "Paris".
        unit: the temperature unit.
    """
    return {"city": city, "temperature": 21 if unit == "celsius" else 70, "unit": unit, "sky": "sunny"}


def build() -> RunAgent:
    container = build_container("test")
    container.app_tools.override(providers.Object([get_weather]))
    container.fake_script.override(
        providers.Object(
            [
                AIResponse(
                    tool_calls=[
                        ToolCall(id="call_weather_1", name="get_weather", arguments={"city": "Paris"})
                    ],
                    finish_reason="tool_calls",
                ),
                AIResponse(content="It is 21 °C and sunny in Paris."),
            ]
        )
    )
    return container.run_agent()


AGENT = Agent(name="weather", system_prompt="You answer weather questions.", tools=["get_weather"])


async def main_async() -> RunEnded:
    """Async code: stream the events and render them as they come."""
    run_agent = build()
    ended: RunEnded | None = None
    async for event in run_agent.stream(AGENT, "What is the weather in Paris?"):
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, ToolExecutionFinished):
            print(f"[{event.result.name}] {event.result.content}")
        elif isinstance(event, RunEnded):
            ended = event
    print()
    assert ended is not None
    return ended


def main_sync() -> RunEnded:
    """Plain sync code: one call, the terminal event back."""
    return build().run_sync(AGENT, "What is the weather in Paris?")


if __name__ == "__main__":
    ended = asyncio.run(main_async())
    print(ended.status.value, "after", ended.turns, "model calls")
    reply = main_sync().response
    print(reply.content if reply else "(no reply)")
