"""The demo model: scripted replies chosen from what the person typed, for ``cw serve --demo``.

Why: the web app is best understood by using it, and a newcomer has no key. The ``fake``
backend plays replies from a script, one per request; a person chatting needs a reply that
fits the message instead. `demo_reply` is that script, as a pure function of the request
body (the OpenAI chat-completions shape the fake speaks): a word in the last message picks
the scene, so every feature of the page can be shown on demand — streaming with thinking,
a server tool call (``read``), a client tool call (``confirm``, answered with Approve/Deny),
a long reply to stop, a failure, and model output full of HTML that must stay inert.

The same replies run on the two paths the page can take: `DemoTransport` feeds them to the
``fake`` backend in process (the real OpenAI-compatible adapter parses them), and
`demo_handler` serves them from a `ScriptedServer` posing as the Hugging Face router.
Nothing here is random: the browser tests and the bench use these scenes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adapters.llm.fake import FakeStep, HTTPFailure, ScriptedTransport
from adapters.llm.openai_compatible import wire as openai_wire
from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse
from domain.errors import ConfigError
from domain.messages import AIResponse, FinishReason, ToolCall, Usage
from domain.service import AgentRecord

if TYPE_CHECKING:
    from adapters.settings import Settings
    from adapters.storage.sql import Database

__all__ = [
    "DEMO_AGENT",
    "DEMO_DELAY",
    "DEMO_FILES",
    "STORY",
    "XSS_REPLY",
    "DemoBackends",
    "DemoOllamaServer",
    "DemoServe",
    "DemoTransport",
    "demo_backends",
    "demo_handler",
    "demo_reply",
    "demo_response",
    "prepare_demo_user",
    "serve_demo",
]

DEMO_DELAY = 0.03
"""Seconds between two streamed chunks: slow enough to watch the text arrive."""

CHUNK = 8
"""Characters per streamed text delta."""

DEMO_FILES: Mapping[str, str] = {
    "poem.txt": "静夜思 — 李白\n床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。\n",
    "notes.md": (
        "# Chinese Worker\nAn agent runtime with pluggable backends: Hugging Face, Ollama, OpenAI, Claude.\n"
    ),
}
"""The files `cw serve --demo` puts in its workspace, for the ``read`` tool to find."""

XSS_REPLY = (
    "Here is the HTML you asked for, and none of it runs:\n\n"
    "<img src=x onerror=\"window.__cwXss = 'img'\"> "
    "<script>window.__cwXss = 'script'</script>\n\n"
    "**Markdown still works**: `code`, *emphasis* and [a link](https://huggingface.co)."
)

STORY = " ".join(
    f"Part {n}: the worker reads another file, thinks about it for a moment, and writes one more line."
    for n in range(1, 61)
)

HELP = (
    "Hello! I am the **demo model** of Chinese Worker: my replies are scripted, no key needed.\n\n"
    "Try a message with one of these words:\n\n"
    "- **read** — I call the `read` tool on `poem.txt` in the demo workspace;\n"
    "- **confirm** — I ask you to approve with the page's `confirm` tool;\n"
    "- **think** — I reason first (shown dimmed, collapsible);\n"
    "- **story** — a long reply: press *Stop*;\n"
    "- **html** — a reply full of `<script>` and `<img onerror>` that stays inert;\n"
    "- **fail** — the backend fails, and the page says why.\n\n"
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def _tool_names(body: Mapping[str, Any]) -> set[str]:
    names = set()
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


def _usage(messages: Sequence[Mapping[str, Any]], reply: str) -> Usage:
    prompt = sum(math.ceil(len(_text(m.get("content"))) / 4) for m in messages) + 12
    completion = max(1, math.ceil(len(reply) / 4))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _answer(text: str, messages: Sequence[Mapping[str, Any]], *, thinking: str | None = None) -> AIResponse:
    return AIResponse(content=text, thinking=thinking, usage=_usage(messages, text), model="demo-model")


def _call(
    name: str, arguments: Mapping[str, Any], messages: Sequence[Mapping[str, Any]], intro: str
) -> AIResponse:
    turn = sum(1 for message in messages if message.get("role") == "user")
    call = ToolCall(id=f"call_demo_{name}_{turn}", name=name, arguments=dict(arguments))
    return AIResponse(
        content=intro,
        tool_calls=(call,),
        finish_reason=FinishReason.TOOL_CALLS,
        usage=_usage(messages, intro + json.dumps(dict(arguments))),
        model="demo-model",
    )


def _after_tools(messages: Sequence[Mapping[str, Any]]) -> AIResponse:
    """The answer once tool results are in: it quotes them, so they visibly made the round trip."""
    names = {
        str(call.get("id")): str((call.get("function") or {}).get("name"))
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
    }
    lines = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        name = names.get(str(message.get("tool_call_id")), "tool")
        result = _text(message.get("content")).strip()
        if name == "confirm":
            approved = result.lower().startswith("approved")
            lines.append(
                "You **approved**: I went ahead, and `notes.md` is gone (in this pretend world)."
                if approved
                else f"You said no ({result or 'denied'}), so I left everything as it was."
            )
        else:
            quoted = "\n".join(f"> {line}" for line in result.splitlines()[:6])
            lines.append(
                f"The `{name}` tool answered:\n\n{quoted}\n\n"
                "A moonlit night, and a traveller thinking of home."
            )
    return _answer("\n\n".join(reversed(lines)) or "The tool said nothing.", messages)


def demo_reply(body: Mapping[str, Any]) -> FakeStep:
    """The demo model's reply to one chat-completions request ``body`` (pure)."""
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    if messages and messages[-1].get("role") == "tool":
        return _after_tools(messages)
    last = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    words = last.lower()
    tools = _tool_names(body)
    if "fail" in words:
        return HTTPFailure(status=400, message="the demo model was asked to fail (you typed 'fail')")
    if "html" in words or "xss" in words or "<script" in words:
        return _answer(XSS_REPLY, messages)
    if "story" in words or "slow" in words:
        return _answer(STORY, messages)
    if "confirm" in words:
        if "confirm" not in tools:
            return _answer("This conversation has no `confirm` tool: start one from the web page.", messages)
        question = "May I delete notes.md from the workspace?"
        return _call("confirm", {"question": question}, messages, "I need your go-ahead first.")
    if "read" in words or "tool" in words:
        if "read" not in tools:
            return _answer(
                "I have no `read` tool: tick *read* in the agent's form (and set CW_WORKSPACE).", messages
            )
        return _call("read", {"file_path": "poem.txt"}, messages, "Let me read `poem.txt`.")
    if "think" in words:
        return _answer(
            "After thinking it over: **yes** — small, honest steps work best.",
            messages,
            thinking="The question is short. I should weigh it, then answer in one line.",
        )
    echo = last.strip().replace("\n", " ")[:200]
    return _answer(
        HELP + (f"You wrote: “{echo}”." if echo else ""),
        messages,
        thinking="A greeting: list what I can show.",
    )


def demo_response(body: Any, *, delay: float = DEMO_DELAY) -> ScriptedResponse:
    """`demo_reply` as the bytes an OpenAI-compatible server streams (or sends whole)."""
    from adapters.llm.fake import render_openai_step

    step = demo_reply(body if isinstance(body, Mapping) else {})
    stream = isinstance(body, Mapping) and bool(body.get("stream"))
    if isinstance(step, AIResponse) and stream:
        chunks = [
            json.dumps(chunk, ensure_ascii=False)
            for chunk in openai_wire.render_stream(step, chunk_size=CHUNK)
        ]
        body_chunks = tuple(f"data: {chunk}\n\n".encode() for chunk in [*chunks, "[DONE]"])
        return ScriptedResponse(
            headers={"content-type": "text/event-stream"}, chunks=body_chunks, delay=delay
        )
    return attrs.evolve(render_openai_step(step, body), delay=delay)


class DemoTransport(ScriptedTransport):
    """A fake-backend transport that answers every request with `demo_reply` (never runs out)."""

    def __init__(self, *, delay: float = DEMO_DELAY) -> None:
        super().__init__((), wire="openai")
        self.delay = delay

    def next_reply(self, body: Any) -> ScriptedResponse:
        return demo_response(body, delay=self.delay)


def demo_handler(
    *, delay: float = DEMO_DELAY, provider: str = "demo-provider"
) -> Callable[[RecordedRequest], ScriptedResponse]:
    """A `ScriptedServer` handler for ``/v1/chat/completions``: the demo model as the HF router."""

    def handle(request: RecordedRequest) -> ScriptedResponse:
        reply = demo_response(request.json() if request.body else {}, delay=delay)
        return attrs.evolve(reply, headers=(*reply.headers, ("x-inference-provider", provider)))

    return handle


# --- `cw serve --demo`: loopback backends, a demo user, a token ---------------------------------

DEMO_KEY = "hf_demo" + "0" * 30  # the loopback router is ours: any well-formed token will do

DEMO_AGENT: Mapping[str, Any] = {
    "name": "Demo tour",
    "description": "The scripted demo model: type read, confirm, think, story, html or fail.",
    "system_prompt": "You are the demo model of Chinese Worker.",
    "ai_backend": "fake",
    "model_config": {"model": "fake-model"},
    "tools": ("read",),
}
"""The agent `cw serve --demo` adds beside the seeded examples: the fake backend with ``read``."""


class DemoOllamaServer(FakeOllamaServer):
    """The project's fake Ollama, whose chats answer with `demo_reply` instead of a finite script."""

    def _chat(self, request: RecordedRequest) -> ScriptedResponse:
        self.script.clear()
        self.script.append(demo_reply(request.json() if request.body else {}))
        return super()._chat(request)


@attrs.frozen(kw_only=True)
class DemoBackends:
    """What `demo_backends` set up: settings overrides and a line per loopback server."""

    environ: Mapping[str, str]
    """Variables for `Settings.with_overrides`: the loopback URLs, the workspace."""
    workspace: Path
    lines: tuple[str, ...]


@contextlib.asynccontextmanager
async def demo_backends(settings: Settings, *, delay: float = DEMO_DELAY) -> AsyncIterator[DemoBackends]:
    """Loopback stand-ins for the backends ``settings`` leave unconfigured, while the block runs.

    Hugging Face without a key gets a scripted router speaking the demo model (the real HF
    adapter talks to it); Ollama without ``OLLAMA_BASE_URL`` gets the project's fake Ollama
    (installed models, pulls with progress, chats with the demo model); without
    ``CW_WORKSPACE`` a temporary folder with `DEMO_FILES` is the tools' workspace. A backend the
    person configured is left alone.
    """
    from adapters.llm.testing.scripted_server import ScriptedServer

    with tempfile.TemporaryDirectory(prefix="cw-serve-demo-") as folder:
        workspace = Path(folder)
        for name, text in DEMO_FILES.items():
            (workspace / name).write_text(text, encoding="utf-8")
        environ: dict[str, str] = {}
        lines: list[str] = []
        async with contextlib.AsyncExitStack() as stack:
            if not settings.get("CW_WORKSPACE"):
                environ["CW_WORKSPACE"] = str(workspace)
                lines.append(f"workspace: {workspace} (poem.txt, notes.md)")
            if not settings.get("HUGGINGFACE_API_KEY"):
                router = await stack.enter_async_context(
                    ScriptedServer({"/v1/chat/completions": demo_handler(delay=delay)})
                )
                environ.update(HUGGINGFACE_API_KEY=DEMO_KEY, HUGGINGFACE_BASE_URL=router.url + "/v1")
                lines.append(f"huggingface: a scripted router on {router.url} (no key needed)")
            if not settings.get("OLLAMA_BASE_URL"):
                ollama = await stack.enter_async_context(DemoOllamaServer(pull_delay=0.05))
                environ["OLLAMA_BASE_URL"] = ollama.url
                lines.append(f"ollama: the fake Ollama on {ollama.url} (pulls show progress)")
            yield DemoBackends(environ=environ, workspace=workspace, lines=tuple(lines))


async def prepare_demo_user(db: Database) -> tuple[str, str]:
    """Seed the example agents and `DEMO_AGENT` for the demo user; return (email, a new token).

    Idempotent but for the token: each call mints a new one (only its hash is stored).
    """
    from adapters.auth import hash_token, new_token
    from adapters.storage.sql.seed import DEMO_EMAIL, seed

    result = await seed(db)
    owner = result.owner
    if all(agent.name != DEMO_AGENT["name"] for agent in result.agents):
        existing = await db.agents.list(owner.id, page=1, per_page=100)
        if all(agent.name != DEMO_AGENT["name"] for agent in existing.items):
            now = dt.datetime.now(dt.UTC)
            await db.agents.add(
                AgentRecord(
                    id=uuid.uuid4().hex, owner_id=owner.id, created_at=now, updated_at=now, **DEMO_AGENT
                )
            )
    token = new_token()
    await db.users.add_token(user_id=owner.id, token_hash=hash_token(token), name="cw serve --demo")
    return DEMO_EMAIL, token


def _delay(value: str | None) -> float:
    if value is None:
        return DEMO_DELAY
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 10:
        raise ConfigError(f"CW_DEMO_DELAY={value!r} must be a number of seconds from 0 to 10")
    return seconds


@attrs.frozen(kw_only=True)
class DemoServe:
    """What ``cw serve --demo`` runs with: its settings and container, and lines to print."""

    settings: Settings
    container: Any
    lines: tuple[str, ...]

    async def welcome(self, db: Database, url: str) -> list[str]:
        """Seed the demo user and agents; the lines telling how to sign in at ``url`` (the page)."""
        email, token = await prepare_demo_user(db)
        return [
            "Demo mode: the fake backend and loopback stand-ins; nothing leaves this machine.",
            *(f"  {line}" for line in self.lines),
            f"Sign in as {email}: open {url}#token={token}",
            "  (or register your own account on the page)",
        ]


@contextlib.asynccontextmanager
async def serve_demo(settings: Settings, *, delay: float | None = None) -> AsyncIterator[DemoServe]:
    """The set-up of ``cw serve --demo``, for as long as the block runs.

    The loopback backends of `demo_backends`; the ``fake`` backend answering with the demo
    model (`DemoTransport`); and, unless ``CW_DATABASE_URL`` is set, a throwaway SQLite
    database, so trying the demo leaves nothing behind. ``delay`` (default ``CW_DEMO_DELAY``,
    else `DEMO_DELAY`) paces the demo model's chunks; the bench sets 0.

    Raises:
        ConfigError: ``CW_DEMO_DELAY`` is not a number of seconds from 0 to 10.
    """
    from dependency_injector import providers

    from adapters.container import build_container

    if delay is None:
        delay = _delay(settings.get("CW_DEMO_DELAY"))

    with tempfile.TemporaryDirectory(prefix="cw-serve-demo-db-") as folder:
        async with demo_backends(settings, delay=delay) as backends:
            environ = dict(backends.environ)
            lines = list(backends.lines)
            if not settings.get("CW_DATABASE_URL"):
                database = Path(folder) / "demo.db"
                environ["CW_DATABASE_URL"] = f"sqlite:///{database}"
                lines.append(f"database: a throwaway SQLite file ({database})")
            demo_settings = settings.with_overrides(environ)
            container = build_container(settings=demo_settings)
            container.fake_transport.override(providers.Object(DemoTransport(delay=delay)))
            yield DemoServe(settings=demo_settings, container=container, lines=tuple(lines))
