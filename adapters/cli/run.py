"""``cw run`` and ``cw chat``: one prompt, or a conversation, with an agent built from options.

Both build the same throwaway `Agent` from the command line (backend, model, system prompt,
tools), ask the container for the `RunAgent` use case and print its events as they come.
``--json`` replaces the printed answer with one JSON object per run on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from dependency_injector import providers

from adapters.cli.app import CliApp, stderr_console
from adapters.cli.errors import EXIT_INTERRUPTED, EXIT_MAX_TURNS, EXIT_OK, error_line, exit_code_for
from adapters.cli.models import PullIfMissingDisplay
from adapters.cli.render import StreamPrinter, run_json
from application.run_agent import RunAgent
from domain.errors import AgentError, RunCancelledError
from domain.events import RunEnded, RunStatus
from domain.messages import ImageInput
from domain.model_config import Agent

__all__ = ["RunOptions", "Session", "chat", "run", "run_once"]

F = TypeVar("F", bound=Callable[..., Any])

_EXIT_WORDS = frozenset({"/exit", "/quit", "/bye"})


@attrs.frozen(kw_only=True)
class RunOptions:
    """The options ``cw run`` and ``cw chat`` share."""

    backend: str | None = None
    model: str | None = None
    provider: str | None = None
    base_url: str | None = None
    system: str = ""
    images: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    workspace: Path | None = None
    max_turns: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    no_stream: bool = False
    as_json: bool = False

    def overrides(self) -> dict[str, Any]:
        """The agent's model settings given on the command line."""
        given = {
            "model": self.model,
            "provider": self.provider,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        return {key: value for key, value in given.items() if value is not None}


def agent_options(command: F) -> F:
    """The options of ``cw run`` and ``cw chat``."""
    options = (
        click.option("--backend", "-b", help="Backend to use (default: AI_BACKEND, else huggingface)."),
        click.option("--model", "-m", help="Model id (HF: org/name, optionally :provider)."),
        click.option("--provider", help="HF provider or policy: a provider name, fastest or cheapest."),
        click.option("--base-url", help="Override the backend's base URL."),
        click.option("--system", "-s", default="", help="System prompt."),
        click.option(
            "--image", "images", multiple=True, metavar="PATH|URL", help="Attach an image (repeatable)."
        ),
        click.option(
            "--tool", "tools", multiple=True, metavar="NAME", help="Offer a builtin tool: read, glob, grep."
        ),
        click.option(
            "--workspace",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Folder the tools may read (default: the current folder).",
        ),
        click.option(
            "--max-turns", type=click.IntRange(min=1), help="Most model calls per run (default 25)."
        ),
        click.option("--temperature", type=float, help="Sampling temperature (0–2)."),
        click.option("--max-tokens", type=click.IntRange(min=1), help="Most tokens per reply."),
        click.option("--no-stream", is_flag=True, help="Print the answer once it is complete."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run on stdout."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _images(references: Sequence[str]) -> tuple[ImageInput, ...]:
    images = []
    for reference in references:
        image = ImageInput.from_reference(reference)
        if image.path is not None and not Path(image.path).is_file():
            raise click.BadParameter(f"no such image file: {reference}", param_hint="--image")
        images.append(image)
    return tuple(images)


@attrs.define
class Session:
    """One agent on one container, printing as it runs."""

    options: RunOptions
    agent: Agent
    run_agent: RunAgent
    printer: StreamPrinter
    pull_display: PullIfMissingDisplay | None = None
    """Draws an Ollama "pull if missing" download on stderr (``None`` when the container had its own)."""

    @classmethod
    def start(cls, app: CliApp, options: RunOptions) -> Session:
        """Build the container and the agent, and check them before anything is sent.

        Raises:
            ConfigError: an unknown backend, a missing key, an invalid setting.
            ToolError: a ``--tool`` name that is not registered.
        """
        backend = options.backend or app.default_backend()
        container = app.container(
            backend=backend,
            base_url=options.base_url,
            workspace=options.workspace or Path.cwd(),
            max_turns=options.max_turns,
        )
        agent = Agent(
            name="cw",
            system_prompt=options.system,
            backend=backend,
            model_config=options.overrides(),
            tools=options.tools,
        )
        pull_display: PullIfMissingDisplay | None = None
        if container.pull_progress() is None:  # an embedding application's own callback wins
            pull_display = PullIfMissingDisplay()
            container.pull_progress.override(providers.Object(pull_display))
        registry = container.backends()
        config = registry.config_for(agent)  # fails early on a bad backend or setting
        if pull_display is not None:
            pull_display.model = config.model
        if agent.tools:
            container.tools().definitions(list(agent.tools))  # fails early on an unknown tool
        printer = StreamPrinter(
            sys.stdout, stderr_console(), stream=not options.no_stream, answer=not options.as_json
        )
        for warning in config.warnings:
            printer.warn(warning)
        return cls(
            options=options,
            agent=agent,
            run_agent=container.run_agent(),
            printer=printer,
            pull_display=pull_display,
        )

    async def turn(
        self, prompt: str, *, conversation_id: str | None = None, images: Sequence[ImageInput] = ()
    ) -> RunEnded:
        """Run one prompt, printing its events; return the terminal `RunEnded`."""
        ended: RunEnded | None = None
        events = self.run_agent.stream(
            self.agent, prompt, conversation_id=conversation_id, images=tuple(images)
        )
        # aclosing: an interrupted turn still unwinds the run now, keeping the store consistent.
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    self.printer.handle(event)
                    if isinstance(event, RunEnded):
                        ended = event
        finally:
            if self.pull_display is not None:  # a failed download must not leave its display live
                self.pull_display.close()
        if ended is None:  # RunAgent promises a RunEnded; a broken promise is a bug, not a hang
            raise AgentError("the run ended without a result; please report this as a bug")
        return ended

    def outcome(self, ended: RunEnded) -> int:
        """Print the result of a finished run and return its exit code (raise on failure)."""
        if ended.status is RunStatus.FAILED:
            raise ended.error or AgentError("the run failed without saying why; try again with CW_DEBUG=1")
        if ended.status is RunStatus.CANCELLED:
            raise ended.error or RunCancelledError("the run was cancelled")
        if self.options.as_json:
            sys.stdout.write(
                json.dumps(run_json(ended, system_prompt=self.agent.system_prompt), ensure_ascii=False) + "\n"
            )
            sys.stdout.flush()
        if ended.status is RunStatus.MAX_TURNS:
            sys.stderr.write(
                f"cw: error: the agent used all {ended.turns} turns without a final answer; "
                "raise --max-turns or narrow the task\n"
            )
            return EXIT_MAX_TURNS
        return EXIT_OK


def run_once(app: CliApp, options: RunOptions, prompt: str) -> int:
    """``cw run``: one prompt, one run."""
    images = _images(options.images)
    session = Session.start(app, options)
    ended = asyncio.run(session.turn(prompt, images=images))
    return session.outcome(ended)


@click.command()
@click.argument("prompt")
@agent_options
@click.pass_obj
def run(app: CliApp, /, prompt: str, **values: Any) -> int:
    """Run PROMPT through an agent and print the answer as it streams (PROMPT - reads stdin)."""
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.BadParameter("the prompt is empty", param_hint="PROMPT")
    return run_once(app, RunOptions(**values), prompt)


@click.command()
@agent_options
@click.pass_obj
def chat(app: CliApp, /, **values: Any) -> int:
    """Talk with an agent: one message per line; /exit or end of input stops.

    Works with piped input too. With --json, prints one JSON object per turn.
    """
    options = RunOptions(**values)
    images = _images(options.images)
    session = Session.start(app, options)
    stdin = sys.stdin
    interactive = stdin.isatty()
    err = stderr_console()
    if interactive:
        err.print("[dim]Chatting; /exit or Ctrl-D to leave.[/dim]")
    status = EXIT_OK
    conversation_id = uuid.uuid4().hex
    # One event loop for the whole conversation: the store and the tools live across turns.
    # Lines are read outside it, so Ctrl-C at the prompt interrupts at once.
    with asyncio.Runner() as runner:
        while True:
            if interactive:
                err.print("[bold cyan]you>[/bold cyan] ", end="")
            line = stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in _EXIT_WORDS:
                break
            try:
                ended = runner.run(session.turn(text, conversation_id=conversation_id, images=images))
            except KeyboardInterrupt:
                # Ctrl-C stops this answer, not the conversation; Ctrl-D or /exit leaves.
                sys.stderr.write("cw: interrupted; the conversation goes on (/exit to leave)\n")
                status = EXIT_INTERRUPTED
                continue
            images = ()  # the images go with the first message only
            try:
                status = session.outcome(ended)
            except AgentError as error:
                # The conversation survives a failed or cancelled turn: say so and go on.
                sys.stderr.write(error_line(error, app.secrets()) + "\n")
                status = exit_code_for(error)
    return status
