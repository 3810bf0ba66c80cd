"""``cw fake-server``: a loopback server speaking a backend's protocol, to try ``cw`` offline.

A newcomer without an API key (or a test script) points any command at it with
``--base-url``: it answers chats over real HTTP, in the protocol's own shapes — server-sent
events for the Hugging Face router, OpenAI and Claude, NDJSON for Ollama, a whole JSON body
when the request does not stream — by echoing the last user message, with usage. Ollama's
model management (``cw pull``, ``rm``, ``show``, ``ps``, ``models``) works too: it is
`FakeOllamaServer`, the server the tests use. The other protocols are `ScriptedServer` with
the fake backend's wire renderers (`adapters.llm.fake.script_handler`).

It listens on 127.0.0.1 only and runs until Ctrl-C or SIGTERM (exit 0). The base URL is the one line
on stdout, so a script can read it; what to type next goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any

import attrs
import click

from adapters.llm.fake import FAKE_MODEL, script_handler
from adapters.llm.testing.scripted_server import RecordedRequest, ScriptedResponse, ScriptedServer

__all__ = ["PROTOCOLS", "fake_server"]


@attrs.frozen(kw_only=True)
class _Protocol:
    wire: str
    chat_path: str
    env: Mapping[str, str]
    """What a client needs besides the base URL (a key of the right shape; never a real one)."""


PROTOCOLS: Mapping[str, _Protocol] = {
    "huggingface": _Protocol(
        wire="openai", chat_path="/v1/chat/completions", env={"HUGGINGFACE_API_KEY": "hf_fake_server_key"}
    ),
    "openai": _Protocol(
        wire="openai", chat_path="/v1/chat/completions", env={"OPENAI_API_KEY": "sk-fake-server-key"}
    ),
    "claude": _Protocol(
        wire="anthropic", chat_path="/v1/messages", env={"ANTHROPIC_API_KEY": "sk-ant-fake-server-key"}
    ),
    "ollama": _Protocol(wire="ollama", chat_path="/api/chat", env={}),
}
"""The protocols ``cw fake-server`` speaks, by the name of the backend that talks to it."""


def _models(protocol: str) -> Any:
    """The ``GET /v1/models`` handler: the one model the fake knows, in the protocol's shape."""
    if protocol == "claude":
        from adapters.llm.anthropic import wire as anthropic_wire
        from domain.model_config import AIModel

        body = anthropic_wire.render_models([AIModel(name=FAKE_MODEL, description="Fake echo model")])
    else:
        body = {
            "object": "list",
            "data": [{"id": FAKE_MODEL, "object": "model", "owned_by": "cw-fake-server"}],
        }

    def handle(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse.json(body)

    return handle


def _server(protocol: str, port: int) -> Any:
    if protocol == "ollama":
        from adapters.llm.testing.ollama_server import FakeOllamaServer

        return FakeOllamaServer(echo=True, port=port)
    spec = PROTOCOLS[protocol]
    return ScriptedServer(
        {spec.chat_path: script_handler((), wire=spec.wire, echo=True), "/v1/models": _models(protocol)},
        port=port,
    )


def base_url(protocol: str, server_url: str) -> str:
    """The ``--base-url`` a client of ``protocol`` uses for a server at ``server_url``."""
    return server_url if protocol == "ollama" else f"{server_url}/v1"


def _instructions(protocol: str, url: str) -> str:
    env = " ".join(f"{name}={value}" for name, value in PROTOCOLS[protocol].env.items())
    prefix = f"{env} " if env else ""
    run = f"{prefix}cw run --backend {protocol} --base-url {url} {shlex.quote('Hello, fake!')}"
    extra = f"\n  cw pull qwen3:0.6b --backend ollama --base-url {url}" if protocol == "ollama" else ""
    return (
        f"cw fake-server: a fake {protocol} server on {url}; it echoes the last user message. "
        "Ctrl-C stops it.\n"
        f"Try, in another terminal:\n  {run}{extra}\n"
    )


async def _serve(protocol: str, port: int) -> None:
    async with _server(protocol, port) as server:
        url = base_url(protocol, server.url)
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        sys.stderr.write(_instructions(protocol, url))
        sys.stderr.flush()
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()  # until SIGTERM, or Ctrl-C (KeyboardInterrupt)
    sys.stderr.write("cw fake-server: stopped\n")


def _check_free(port: int) -> None:
    """A taken port is a usage error now, before the server starts (uvicorn would exit)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise click.UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None


@click.command("fake-server")
@click.option(
    "--protocol",
    type=click.Choice(list(PROTOCOLS)),
    default="openai",
    show_default=True,
    help="The backend protocol to speak.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 to listen on (default: a free one, printed).",
)
def fake_server(protocol: str, port: int) -> int:
    """Serve a fake backend on 127.0.0.1 that echoes each message, to try every command offline.

    Prints its base URL on stdout; point a command at it with --base-url, e.g.
    `cw run --backend ollama --base-url URL hi`. Runs until Ctrl-C.
    """
    if port:
        _check_free(port)
    try:
        asyncio.run(_serve(protocol, port))
    except KeyboardInterrupt:
        sys.stderr.write("cw fake-server: stopped\n")
    except (OSError, SystemExit) as error:  # uvicorn exits when it cannot bind (the port is taken)
        detail = error.strerror if isinstance(error, OSError) and error.strerror else "is the port in use?"
        raise click.UsageError(f"cannot listen on 127.0.0.1:{port}: {detail}") from None
    return 0
