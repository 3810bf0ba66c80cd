"""The ``cw`` command: the entry point and the one place errors turn into exit codes.

Each subcommand lives in its own module (`run`, `models`, `demo`) and asks the `CliApp`
for what it needs — settings, a container — so nothing is read or built before a command
runs. `main` turns every outcome into an exit code: `AgentError`s through the table in
``errors.py`` with exactly one line on stderr, Ctrl-C as 130, and a bug as one line too
(set ``CW_DEBUG=1`` to see its traceback).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from adapters.cli.app import CliApp
from adapters.cli.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED, error_line, exit_code_for, scrub
from adapters.cli.scrubbing import scrubbed_std_streams
from domain.errors import AgentError

if TYPE_CHECKING:
    from adapters.container import Container

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="chinese-worker", prog_name="cw")
def cli() -> None:
    """Chinese Worker: run agents on Hugging Face, Ollama, OpenAI, Claude or a scripted fake.

    Settings come from the environment and ./.env (see .env.example); AI_BACKEND picks the
    default backend. Try `cw demo` for an offline tour.
    """


def _register_commands() -> None:
    from adapters.cli import cluster, db, demo, fake_server, models, run, serve, worker

    for command in (
        run.run,
        run.chat,
        models.backends,
        models.models,
        models.pull,
        models.rm,
        models.show,
        models.ps,
        demo.demo,
        fake_server.fake_server,
        db.db,
        db.token,
        serve.serve,
        worker.worker,
        cluster.cluster,
    ):
        cli.add_command(command)


_register_commands()


def _print_error(line: str) -> None:
    stream = sys.stderr
    stream.write(line + "\n")
    stream.flush()


# Click 8.2+ raises this for a bare `cw`; older versions print the help themselves.
_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _usage_line(error: click.ClickException, secrets: Sequence[str], argv: Sequence[str] | None) -> str:
    """A usage error as one line, like every other error, with where to find the right usage."""
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    if context is not None:
        hint = f" (see '{context.command_path} --help')"
    elif isinstance(error, click.UsageError):  # the parser raises some (a value missing) without one
        hint = f" (see '{_command_path(argv)} --help')"
    else:
        hint = ""
    return scrub(f"cw: error: {message}{hint}", secrets)


def _command_path(argv: Sequence[str] | None) -> str:
    """``cw`` and the subcommand named in ``argv``, if any."""
    words = list(argv) if argv is not None else sys.argv[1:]
    command = next((word for word in words if not word.startswith("-")), None)
    return f"cw {command}" if command in cli.commands else "cw"


def _replace_unprintable_output() -> None:
    """Print what the terminal's encoding cannot show as replacement characters, not a crash.

    With ``PYTHONIOENCODING=latin-1`` (or an old locale) an answer in Chinese would otherwise
    raise UnicodeEncodeError half-way through.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="replace")


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    container: Container | None = None,
) -> int:
    """Run ``cw`` with ``argv`` and return the exit code (the console script's entry point).

    Args:
        argv: the arguments after ``cw``; ``None`` reads ``sys.argv``.
        environ: the environment to read instead of the process's (tests, embedding).
        container: a prepared container to use instead of building one from settings.
    """
    _replace_unprintable_output()
    app = CliApp(environ=environ, container_override=container)
    # Everything printed, the model's own text included, is scrubbed of configured secrets.
    output = contextlib.ExitStack()
    output.enter_context(scrubbed_std_streams(app.secrets))
    try:
        result: Any = cli.main(
            args=list(argv) if argv is not None else None, prog_name="cw", standalone_mode=False, obj=app
        )
    except click.exceptions.Abort:
        _print_error("cw: interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _print_error("cw: interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        if isinstance(error, _NO_ARGS_IS_HELP):  # bare `cw`: the help is the answer
            error.show()
        else:
            _print_error(_usage_line(error, app.secrets(), argv))
        return error.exit_code
    except AgentError as error:
        _print_error(error_line(error, app.secrets()))
        return exit_code_for(error)
    except Exception as error:
        _print_error(error_line(error, app.secrets()))
        if (environ if environ is not None else os.environ).get("CW_DEBUG"):
            sys.stderr.write(scrub("".join(traceback.format_exception(error)), app.secrets()))
        return EXIT_UNEXPECTED
    finally:
        output.close()
    if isinstance(result, int):
        return result
    return EXIT_OK
