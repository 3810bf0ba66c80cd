"""``cw demo``: the whole runtime, offline, on the real Hugging Face backend.

A loopback HTTP server speaking the router's protocol (OpenAI-compatible chat completions
over server-sent events) plays the model. The real `HuggingFaceLLM` talks to it over real
HTTP, and the real `RunAgent` runs the real ``read`` tool on files the demo writes into a
temporary workspace. Nothing is faked above the socket: what prints is what a user of the
router would see.

The scripted "model" streams some reasoning and non-ASCII text, asks for two ``read`` calls
in one reply (parallel calls, arguments split across chunks), and then answers from the tool
results it was sent back — so the final answer proves the results made the round trip.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from adapters.cli.app import CliApp, stderr_console
from adapters.cli.run import RunOptions, Session
from adapters.llm._sse import ServerSentEvent, render_sse
from adapters.settings import Settings

__all__ = ["DEMO_FILES", "DEMO_MODEL", "DEMO_PROMPT", "demo", "demo_reply", "run_demo"]

DEMO_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
DEMO_PROVIDER = "demo-loopback"
DEMO_PROMPT = "Read poem.txt and notes.md in my workspace, then tell me what they are about."
DEMO_KEY = "hf_demo" + "0" * 30  # the server is ours: any well-formed token will do

DEMO_FILES: Mapping[str, str] = {
    "poem.txt": "静夜思 — 李白\n床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。\n",
    "notes.md": (
        "# Chinese Worker\n"
        "An agent runtime with pluggable backends: Hugging Face, Ollama, OpenAI, Claude.\n"
        "Ünïcödé survives every hop — 中文, émigré, naïve.\n"
    ),
}
"""The files the demo writes into its temporary workspace."""

_CHUNK = 6  # characters per streamed text delta: small, so the stream is visible


def _pieces(text: str, size: int = _CHUNK) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _chunk(
    delta: Mapping[str, Any], finish: str | None = None, usage: Mapping[str, int] | None = None
) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "model": DEMO_MODEL,
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
    }
    if usage is not None:
        payload["usage"] = dict(usage)
    return render_sse([ServerSentEvent(data=json.dumps(payload, ensure_ascii=False))])


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _first_turn() -> list[bytes]:
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [
        _chunk({"reasoning_content": piece})
        for piece in _pieces("Two files to look at; I can read both at once.")
    ]
    chunks += [
        _chunk({"content": piece}) for piece in _pieces("好的！I'll read both files at the same time.")
    ]
    calls = [("call_demo_poem", "poem.txt"), ("call_demo_notes", "notes.md")]
    for index, (call_id, _) in enumerate(calls):
        start = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": "read", "arguments": ""},
        }
        chunks.append(_chunk({"tool_calls": [start]}))
    # The arguments of both calls arrive interleaved and split mid-token, as real providers send them.
    fragments = [['{"file_', f'path": "{name[:3]}', f'{name[3:]}"}}'] for _, name in calls]
    for step in range(3):
        for index in range(len(calls)):
            piece = {"index": index, "function": {"arguments": fragments[index][step]}}
            chunks.append(_chunk({"tool_calls": [piece]}))
    chunks.append(_chunk({}, finish="tool_calls", usage=_usage(180, 42)))
    chunks.append(render_sse([ServerSentEvent(data="[DONE]")]))
    return chunks


def _file_text(tool_content: str) -> list[str]:
    """The lines of a ``read`` result without its line numbers (``   1\\ttext``)."""
    lines = []
    for line in tool_content.splitlines():
        match = re.match(r"\s*\d+\t(.*)$", line)
        if match:
            lines.append(match.group(1))
    return lines


def _answer(tool_messages: Sequence[Mapping[str, Any]]) -> str:
    by_id = {str(message.get("tool_call_id")): str(message.get("content") or "") for message in tool_messages}
    poem = _file_text(by_id.get("call_demo_poem", ""))
    notes = _file_text(by_id.get("call_demo_notes", ""))
    if not poem or not notes:
        missing = [name for name, lines in (("poem.txt", poem), ("notes.md", notes)) if not lines]
        return f"I could not read {' and '.join(missing)}; the tool said: " + " | ".join(by_id.values())
    verses = "".join(poem[1:])
    return (
        f"**poem.txt** is {poem[0]}: {len(poem) - 1} lines of five characters — {verses} "
        "The moonlight on the floor looks like frost, and the poet, looking up at the moon, "
        "thinks of home.\n\n"
        f"**notes.md** describes {notes[0].lstrip('# ')}: {notes[1] if len(notes) > 1 else ''}\n"
    )


def demo_reply(request_body: Mapping[str, Any]) -> list[bytes]:
    """The SSE chunks the scripted model sends for one chat-completions request.

    The first call (no tool results yet) asks to read both demo files; a call that carries
    tool results answers from them.
    """
    messages = request_body.get("messages") or []
    tool_messages = [message for message in messages if message.get("role") == "tool"]
    if not tool_messages:
        return _first_turn()
    answer = _answer(tool_messages)
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": piece}) for piece in _pieces(answer)]
    chunks.append(_chunk({}, finish="stop", usage=_usage(420, len(answer) // 4)))
    chunks.append(render_sse([ServerSentEvent(data="[DONE]")]))
    return chunks


async def run_demo(app: CliApp, *, delay: float, as_json: bool, workspace: Path) -> int:
    """Serve the scripted router on loopback and run one agent turn against it."""
    from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer

    for name, text in DEMO_FILES.items():
        (workspace / name).write_text(text, encoding="utf-8")

    def handler(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse(
            status=200,
            headers={"content-type": "text/event-stream", "x-inference-provider": DEMO_PROVIDER},
            chunks=demo_reply(request.json()),
            delay=delay,
        )

    async with ScriptedServer({"/v1/chat/completions": handler}) as server:
        settings = Settings.load(
            {
                "AI_BACKEND": "huggingface",
                "CW_ENV": "production",
                "HUGGINGFACE_API_KEY": DEMO_KEY,
                "HUGGINGFACE_BASE_URL": server.url + "/v1",
                "HUGGINGFACE_MODEL": DEMO_MODEL,
                "HUGGINGFACE_MAX_RETRIES": "0",
            }
        )
        demo_app = CliApp(settings=settings)
        options = RunOptions(backend="huggingface", tools=("read",), workspace=workspace, as_json=as_json)
        session = Session.start(demo_app, options)
        if not as_json:
            err = stderr_console()
            err.print(f"[bold]cw demo[/bold] [dim]— router on {server.url}, workspace {workspace}[/dim]")
            err.print(f"[bold cyan]you>[/bold cyan] {DEMO_PROMPT}")
        ended = await session.turn(DEMO_PROMPT)
        return session.outcome(ended)


@click.command()
@click.option(
    "--delay", type=click.FloatRange(min=0), default=0.015, show_default=True, help="Seconds between chunks."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON object.")
@click.pass_obj
def demo(app: CliApp, delay: float, as_json: bool) -> int:
    """Run a scripted conversation offline: a loopback router, the real HF backend and agent loop."""
    import asyncio

    with tempfile.TemporaryDirectory(prefix="cw-demo-") as folder:
        return asyncio.run(run_demo(app, delay=delay, as_json=as_json, workspace=Path(folder)))
