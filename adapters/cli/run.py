"""``cw run`` and ``cw chat``: one prompt, or a conversation, with an agent built from options.

Both build the same throwaway `Agent` from the command line (backend, model, system prompt,
tools), ask the container for the `RunAgent` use case and print its events as they come.
``--json`` replaces the printed answer with one JSON object per run on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from dependency_injector import providers

from adapters.cli.app import CliApp, stderr_console
from adapters.cli.errors import EXIT_MAX_TURNS, EXIT_OK, error_line, exit_code_for
from adapters.cli.models import PullIfMissingDisplay
from adapters.cli.render import StreamPrinter, run_json
from adapters.llm._images import IMAGE_FILE_TYPES, media_type_of_file
from application.run_agent import RunAgent
from domain.errors import AgentError, RunCancelledError
from domain.events import RunEnded, RunStatus
from domain.messages import ChatMessage, FinishReason, ImageInput, Role
from domain.model_config import Agent

__all__ = ["RunOptions", "Session", "chat", "run", "run_once"]

F = TypeVar("F", bound=Callable[..., Any])

_EXIT_WORDS = frozenset({"/exit", "/quit", "/bye"})

_CHAT_HELP = """Commands:
  /help              show this help
  /clear             forget the conversation and start a new one
  /exit, /quit, /bye leave (so does Ctrl-D)
Ctrl-C stops the answer being written; the conversation goes on."""

_COMMAND = re.compile(r"/[A-Za-z]+")
"""A line that is one slash word is a command, never a message (``/etc/hosts?`` is a message)."""

INTERRUPTED_MARK = "[interrupted by the user]"
"""Ends the answer a user interrupted, as kept in the conversation."""

_NOT_UTF8 = "{what} is not valid UTF-8; the bytes that are not were replaced with \ufffd"


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
        if image.path is not None:
            _check_image_file(reference, Path(image.path).expanduser())
        images.append(image)
    return tuple(images)


def _check_image_file(reference: str, path: Path) -> None:
    """Refuse, as a usage error, a path that cannot be an image, before anything is sent."""
    if path.is_dir():
        raise click.BadParameter(f"{reference} is a folder; give an image file", param_hint="--image")
    if not path.is_file():
        raise click.BadParameter(f"no such image file: {reference}", param_hint="--image")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise click.BadParameter(
            f"cannot read {reference}: {error.strerror or error}", param_hint="--image"
        ) from None
    if media_type_of_file(path.name, head) is None:
        raise click.BadParameter(
            f"{reference} is not an image file this tool recognises; give a {IMAGE_FILE_TYPES} file",
            param_hint="--image",
        )


def decode_input(text: str) -> tuple[str, bool]:
    """``text`` with undecodable bytes replaced by U+FFFD, and whether any were.

    Python hands over bytes that are not valid UTF-8 (in argv, or read with
    ``surrogateescape``) as lone surrogates, which no request can carry.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text, False
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace"), True


def _read_stdin() -> tuple[str, bool]:
    """All of stdin as text (undecodable bytes replaced), and whether any were replaced."""
    stream = sys.stdin
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text stream without bytes underneath (tests, embedding)
        return decode_input(stream.read())
    data = buffer.read()
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return data.decode(encoding), False
    except (UnicodeDecodeError, LookupError):
        return data.decode(encoding if _known_encoding(encoding) else "utf-8", "replace"), True


def _known_encoding(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


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
            _check_tools(container.tools(), agent.tools)
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

    async def keep_interrupted(self, conversation_id: str, partial: str) -> None:
        """Keep what an interrupted answer had said, marked as interrupted.

        Without it the next message would follow the user's last one directly (two user
        messages in a row), and the model would not know its answer was cut short.
        """
        store = self.run_agent.store
        history = await store.load(conversation_id)
        if history and history[-1].role is not Role.ASSISTANT:
            content = f"{partial.rstrip()}\n\n{INTERRUPTED_MARK}" if partial.strip() else INTERRUPTED_MARK
            await store.append(conversation_id, ChatMessage.assistant(content))

    async def turn(
        self, prompt: str, *, conversation_id: str | None = None, images: Sequence[ImageInput] = ()
    ) -> RunEnded:
        """Run one prompt, printing its events; return the terminal `RunEnded`."""
        ended: RunEnded | None = None
        events = self.run_agent.stream(
            self.agent,
            prompt,
            conversation_id=conversation_id,
            images=tuple(images),
            streaming=not self.options.no_stream,
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
        response = ended.response
        if response is not None and response.finish_reason is FinishReason.LENGTH:
            self.printer.warn(
                "the reply was cut off by the token limit (finish reason length): it may be "
                "incomplete, and no tool call in it was run; raise --max-tokens"
            )
        if ended.status is RunStatus.MAX_TURNS:
            sys.stderr.write(
                f"cw: error: the agent used all {ended.turns} turns without a final answer; "
                "raise --max-turns or narrow the task\n"
            )
            return EXIT_MAX_TURNS
        return EXIT_OK


def _check_tools(tools: Any, names: Sequence[str]) -> None:
    """An unknown ``--tool`` is a usage error listing the tools there are."""
    known = [definition.name for definition in tools.definitions()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.BadParameter(
            f"no tool named {', '.join(map(repr, unknown))}; the tools are: {', '.join(known)}",
            param_hint="--tool",
        )


def run_once(app: CliApp, options: RunOptions, prompt: str, *, warnings: Sequence[str] = ()) -> int:
    """``cw run``: one prompt, one run."""
    images = _images(options.images)
    session = Session.start(app, options)
    for warning in warnings:
        session.printer.warn(warning)
    ended = asyncio.run(session.turn(prompt, images=images))
    return session.outcome(ended)


@click.command()
@click.argument("prompt")
@agent_options
@click.pass_obj
def run(app: CliApp, /, prompt: str, **values: Any) -> int:
    """Run PROMPT through an agent and print the answer as it streams (PROMPT - reads stdin)."""
    if prompt == "-":
        prompt, replaced = _read_stdin()
        what = "the prompt read from stdin"
    else:
        prompt, replaced = decode_input(prompt)
        what = "the prompt"
    if not prompt.strip():
        raise click.BadParameter("the prompt is empty", param_hint="PROMPT")
    warnings = [_NOT_UTF8.format(what=what)] if replaced else []
    return run_once(app, RunOptions(**values), prompt, warnings=warnings)


@click.command()
@agent_options
@click.pass_obj
def chat(app: CliApp, /, **values: Any) -> int:
    """Talk with an agent: one message per line; /exit or end of input stops, /help lists commands.

    Works with piped input too. With --json, prints one JSON object per turn. Ctrl-C stops
    the answer being written and keeps what it said so far; the conversation goes on.
    """
    options = RunOptions(**values)
    images = _images(options.images)
    session = Session.start(app, options)
    stdin = sys.stdin
    reconfigure = getattr(stdin, "reconfigure", None)
    if reconfigure is not None:  # bytes that are not UTF-8 become a warning, not a crash
        reconfigure(errors="surrogateescape")
    interactive = stdin.isatty()
    err = stderr_console()
    if interactive:
        err.print("[dim]Chatting; /exit or Ctrl-D to leave, /help for commands.[/dim]")
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
            text, replaced = decode_input(line.strip())
            if not text:
                continue
            if _COMMAND.fullmatch(text):
                command = text.lower()
                if command in _EXIT_WORDS:
                    break
                if command == "/help":
                    sys.stderr.write(_CHAT_HELP + "\n")
                elif command == "/clear":
                    conversation_id = uuid.uuid4().hex
                    sys.stderr.write("cw: the conversation was cleared; a new one starts\n")
                else:
                    sys.stderr.write(f"cw: unknown command {text}; /help lists the commands\n")
                continue
            if replaced:
                session.printer.warn(_NOT_UTF8.format(what="the message"))
            try:
                ended = runner.run(session.turn(text, conversation_id=conversation_id, images=images))
            except KeyboardInterrupt:
                # Ctrl-C stops this answer, not the conversation; Ctrl-D or /exit leaves.
                partial = session.printer.interrupted()
                runner.run(session.keep_interrupted(conversation_id, partial))
                sys.stderr.write("cw: interrupted; the conversation goes on (/exit to leave)\n")
                images = ()  # they went with the interrupted message
                continue
            images = ()  # the images go with the first message only
            try:
                status = session.outcome(ended)
            except AgentError as error:
                # The conversation survives a failed or cancelled turn: say so and go on.
                sys.stderr.write(error_line(error, app.secrets()) + "\n")
                status = exit_code_for(error)
    return status
