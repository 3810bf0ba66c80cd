"""Typed settings read from the environment and a ``.env`` file, only when asked.

The runtime is configured the twelve-factor way: environment variables, optionally seeded
from a ``.env`` file (the current folder's, or the one ``CW_ENV_FILE`` names). A real
environment variable always wins over the file, so a deployment can override a checked-in
default without editing it. Nothing here runs at import time: `Settings.load` reads, and the
container calls it on demand.

Each backend owns the parsing of its own variables (``HuggingFaceSettings.from_env`` and
friends, next to its adapter); this module gathers the merged environment once, answers the
cross-cutting questions (which backend is the default, which environment wiring to use) and
hands each backend its view. Secrets never appear in a ``repr``: `redact` masks them.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from adapters.environments import ENVIRONMENTS
from application.run_agent import DEFAULT_MAX_TOOL_CALLS
from domain.errors import ConfigError

if TYPE_CHECKING:
    from adapters.llm.anthropic import AnthropicSettings
    from adapters.llm.huggingface import HuggingFaceSettings
    from adapters.llm.ollama import OllamaSettings
    from adapters.llm.openai import OpenAISettings

__all__ = [
    "BACKEND_ENV_PREFIXES",
    "DEFAULT_BACKEND",
    "Settings",
    "is_secret",
    "read_environment",
    "redact",
    "secret_values",
]

DEFAULT_BACKEND = "huggingface"
"""The backend used when ``AI_BACKEND`` is not set."""

DEFAULT_TOOL_TIMEOUT = 60.0
"""Seconds a tool call may take when ``CW_TOOL_TIMEOUT`` is not set."""


class _BackendPrefixes(Mapping[str, str]):
    """Backend name → the prefix of its variables, read from `adapters.llm.SPECS` on first use.

    Lazy because the backends' settings modules import this one.
    """

    def _table(self) -> dict[str, str]:
        from adapters.llm import SPECS

        return {spec.name: spec.env_prefix.rstrip("_") for spec in SPECS if spec.env_prefix is not None}

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


BACKEND_ENV_PREFIXES: Mapping[str, str] = _BackendPrefixes()
"""The prefix of each backend's variables (``HUGGINGFACE_BASE_URL``, ``OLLAMA_MODEL``…), from its spec."""

_SECRET_NAME = re.compile(r"(API_KEY|_KEY|TOKEN|SECRET|PASSWORD|BILL_TO)$", re.IGNORECASE)
_ENV_ALIASES = {"prod": "production", "production": "production", "test": "test", "testing": "test"}


def is_secret(name: str) -> bool:
    """Whether a variable named ``name`` holds a secret (an API key, a token, a password)."""
    return bool(_SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Every secret value set in ``environ`` (keys, tokens, passwords), stripped, for scrubbing output."""
    return tuple(
        value.strip() for key, value in environ.items() if is_secret(key) and len(value.strip()) >= 4
    )


def redact(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` that is safe to print: secret values become ``'***'``."""
    return {key: ("***" if is_secret(key) and value else value) for key, value in environ.items()}


def read_environment(
    environ: Mapping[str, str] | None = None, *, env_file: str | os.PathLike[str] | None = None
) -> tuple[dict[str, str], Path | None]:
    """Merge the process environment over a ``.env`` file.

    Which file: ``env_file`` when given; else the path in ``CW_ENV_FILE``; else ``./.env``
    when the process environment is used. An explicit ``environ`` is taken as the whole
    environment (an embedding application or a test wants no surprises from the current
    folder), so only ``env_file`` or its ``CW_ENV_FILE`` bring a file in.

    Values from the file never override a variable that is set. ``${VAR}`` is not expanded.

    Args:
        environ: the environment to use; ``None`` means ``os.environ``.
        env_file: a ``.env`` file to read.

    Returns:
        The merged variables and the file that was read (``None`` when none was).

    Raises:
        ConfigError: ``env_file`` or ``CW_ENV_FILE`` names a file that does not exist.
    """
    base = dict(os.environ if environ is None else environ)
    path: Path | None
    if env_file is not None:
        path = Path(env_file)
    elif base.get("CW_ENV_FILE"):
        path = Path(base["CW_ENV_FILE"])
    elif environ is None:
        path = Path.cwd() / ".env"
        if not path.is_file():
            return base, None
    else:
        return base, None
    if not path.is_file():
        raise ConfigError(f"the settings file {str(path)!r} does not exist; create it or fix CW_ENV_FILE")
    from_file = dotenv_values(stream=io.StringIO(_env_file_text(path)), interpolate=False)
    merged = {key: value for key, value in from_file.items() if value is not None}
    merged.update(base)
    return merged, path


def _env_file_text(path: Path) -> str:
    """The text of a settings file, checked line by line.

    python-dotenv skips a line it cannot parse with a log warning: a key on that line would
    then be reported as "not set", which sends the user looking in the wrong place. The
    message names the line but never shows it: it may hold a key.

    Raises:
        ConfigError: the file cannot be read, or a line is not ``NAME=value``.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the settings file {str(path)!r} ({type(error).__name__})") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(
                f"line {binding.original.line} of the settings file {str(path)!r} is not NAME=value; "
                "fix it (quote a value with spaces, close every quote) or remove it"
            )
    return text


def _environment_name(raw: str | None) -> str:
    name = (raw or "production").strip().lower()
    try:
        return _ENV_ALIASES[name]
    except KeyError:
        raise ConfigError(
            f"CW_ENV={raw!r} is not a known environment; use one of {', '.join(ENVIRONMENTS)}"
        ) from None


@attrs.frozen(kw_only=True)
class Settings:
    """The runtime's settings: the default backend, the environment, and every variable.

    Attributes:
        default_backend: the backend name an agent without one uses (``AI_BACKEND``).
        environment: the container wiring to use (``CW_ENV``): ``production`` or ``test``.
        env_file: the ``.env`` file that was read, if any.
        environ: the merged variables each backend reads its own settings from. Hidden
            from ``repr`` (it holds API keys); use `redact` to show it.
    """

    default_backend: str = DEFAULT_BACKEND
    environment: str = "production"
    env_file: Path | None = None
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read the settings now (see `read_environment` for where from).

        Args:
            environ: the environment; ``None`` means ``os.environ`` plus ``./.env``.
            env_file: a ``.env`` file to read.
            overrides: variables that win over both (the CLI's ``--base-url`` and friends).

        Raises:
            ConfigError: an unknown ``CW_ENV``, or a settings file that does not exist.
        """
        merged, path = read_environment(environ, env_file=env_file)
        merged.update(overrides or {})
        backend = (merged.get("AI_BACKEND") or "").strip() or DEFAULT_BACKEND
        return cls(
            default_backend=backend,
            environment=_environment_name(merged.get("CW_ENV")),
            env_file=path,
            environ=merged,
        )

    def get(self, name: str, default: str | None = None) -> str | None:
        """One variable, or ``default`` when it is unset or blank."""
        value = self.environ.get(name)
        return value if value not in (None, "") else default

    def with_overrides(self, overrides: Mapping[str, str]) -> Settings:
        """A copy where ``overrides`` win over every other source."""
        merged = {**self.environ, **overrides}
        return attrs.evolve(
            self,
            environ=merged,
            default_backend=(merged.get("AI_BACKEND") or "").strip() or DEFAULT_BACKEND,
            environment=_environment_name(merged.get("CW_ENV")),
        )

    def backend_variables(self, backend: str) -> dict[str, str]:
        """The variables of one backend (``HUGGINGFACE_*`` for ``huggingface``), redacted."""
        prefix = BACKEND_ENV_PREFIXES.get(backend)
        if prefix is None:
            return {}
        return redact({key: value for key, value in self.environ.items() if key.startswith(prefix + "_")})

    def secrets(self) -> tuple[str, ...]:
        """Every secret value set, so that output can be scrubbed of them as a last resort."""
        return secret_values(self.environ)

    def tool_timeout(self) -> float:
        """``CW_TOOL_TIMEOUT``: seconds one tool call may take (default 60); its result then says so.

        Raises:
            ConfigError: not a positive number.
        """
        raw = self.get("CW_TOOL_TIMEOUT")
        if raw is None:
            return DEFAULT_TOOL_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"CW_TOOL_TIMEOUT must be a positive number of seconds, not {raw!r}")
        return value

    def max_tool_calls(self) -> int:
        """``CW_MAX_TOOL_CALLS``: the most tool calls run from one model reply (default 32).

        Raises:
            ConfigError: not a whole number of at least 1.
        """
        raw = self.get("CW_MAX_TOOL_CALLS")
        if raw is None:
            return DEFAULT_MAX_TOOL_CALLS
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"CW_MAX_TOOL_CALLS must be a whole number of at least 1, not {raw!r}")
        return value

    # --- each backend's own settings, parsed by the backend's settings class -------------------

    def huggingface(self) -> HuggingFaceSettings:
        """The ``HUGGINGFACE_*`` settings (`HuggingFaceSettings`; not validated yet).

        Raises:
            ConfigError: a variable that does not parse (a timeout that is not a number).
        """
        from adapters.llm.huggingface import HuggingFaceSettings

        return HuggingFaceSettings.from_env(self.environ)

    def ollama(self) -> OllamaSettings:
        """The ``OLLAMA_*`` settings (`OllamaSettings`).

        Raises:
            ConfigError: a variable that does not parse or cannot work (a URL that is not http).
        """
        from adapters.llm.ollama import OllamaSettings

        return OllamaSettings.from_env(self.environ)

    def openai(self) -> OpenAISettings:
        """The ``OPENAI_*`` settings (`OpenAISettings`; not validated yet).

        Raises:
            ConfigError: a variable that does not parse.
        """
        from adapters.llm.openai import OpenAISettings

        return OpenAISettings.from_env(self.environ)

    def claude(self) -> AnthropicSettings:
        """The ``ANTHROPIC_*`` settings of the ``claude`` backend (`AnthropicSettings`).

        Raises:
            ConfigError: a variable that does not parse.
        """
        from adapters.llm.anthropic import AnthropicSettings

        return AnthropicSettings.from_env(self.environ)
