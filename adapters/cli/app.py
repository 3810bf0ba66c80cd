"""What every ``cw`` command shares: the `CliApp` context object and the consoles.

Commands get settings and a container from here, on first use, so nothing is read or built
before a command runs and tests can hand in their own environment or container.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import click
from rich.console import Console

from adapters.settings import BACKEND_ENV_PREFIXES, Settings

if TYPE_CHECKING:
    from adapters.container import Container

__all__ = ["CliApp", "stderr_console", "stdout_console"]


@attrs.define
class CliApp:
    """What every command shares: where settings come from and how the container is built.

    Args:
        environ: the environment to read (``None``: the process environment and ``./.env``).
        container_override: a container built by the caller (an embedding application or a
            test); when given, settings come from it and ``environ`` is ignored.
        settings: settings already read (``cw demo`` builds its own).
    """

    environ: Mapping[str, str] | None = None
    container_override: Container | None = None
    _settings: Settings | None = attrs.field(default=None, alias="settings")

    def settings(self) -> Settings:
        """The settings, read on first use."""
        if self._settings is None:
            if self.container_override is not None:
                self._settings = self.container_override.settings()
            else:
                self._settings = Settings.load(self.environ)
        return self._settings

    def secrets(self) -> tuple[str, ...]:
        """Secret values read so far (an embedded container's too), to scrub from all output."""
        if self._settings is None and self.container_override is not None:
            try:
                self._settings = self.container_override.settings()
            except Exception:  # its settings cannot be read: the command will say why
                return ()
        return self._settings.secrets() if self._settings is not None else ()

    def container(
        self,
        *,
        backend: str | None = None,
        base_url: str | None = None,
        workspace: Path | None = None,
        max_turns: int | None = None,
    ) -> Container:
        """The container for one command, with its command-line options applied.

        Args:
            backend: the backend the command uses (for ``--base-url``).
            base_url: overrides ``<BACKEND>_BASE_URL`` of that backend.
            workspace: the folder the builtin tools may read.
            max_turns: the most model calls one run may make.

        Raises:
            click.UsageError: ``--base-url`` was given for a backend without one.
        """
        from adapters.container import build_container

        if self.container_override is not None:
            container = self.container_override
            if base_url is not None:
                raise click.UsageError("--base-url cannot be combined with an embedded container")
        else:
            settings = self.settings()
            if base_url is not None:
                name = backend or _default_backend_name(settings)
                prefix = BACKEND_ENV_PREFIXES.get(name)
                if prefix is None:
                    raise click.UsageError(f"--base-url does not apply to the {name} backend")
                settings = settings.with_overrides({f"{prefix}_BASE_URL": base_url})
                self._settings = settings
            container = build_container(settings=settings)
            if backend is not None and backend != _default_backend_name(settings):
                # The command names its backend: a stale AI_BACKEND must not stop it.
                container.config.default_backend.from_value(backend)
        if workspace is not None:
            container.config.workspace.from_value(str(workspace))
        if max_turns is not None:
            container.config.max_turns.from_value(max_turns)
        return container

    def default_backend(self) -> str:
        """The backend a command uses when ``--backend`` is not given."""
        if self.container_override is not None:
            return str(self.container_override.backends().default_backend)
        return _default_backend_name(self.settings())


def _default_backend_name(settings: Settings) -> str:
    from adapters.environments import environment_config

    configured = environment_config(settings.environment).get("default_backend")
    return str(configured or settings.default_backend)


def stdout_console() -> Console:
    """A rich console on the current stdout (looked up now, so test runners can capture it)."""
    # Piped output is not cut to 80 columns: a script reading a table wants whole model ids.
    width = None if sys.stdout.isatty() else 200
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)


def stderr_console() -> Console:
    """A rich console on the current stderr."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)
