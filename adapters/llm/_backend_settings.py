"""`HTTPBackendSettings`: the settings every HTTP backend has, read and checked once.

An HTTP backend needs an API key, a base URL, a model, a timeout and a retry count, read from
``<PREFIX>_API_KEY``, ``<PREFIX>_BASE_URL``, ``<PREFIX>_MODEL``, ``<PREFIX>_TIMEOUT`` and
``<PREFIX>_MAX_RETRIES``; a subclass sets its ``prefix``, ``title``, defaults and when it needs
a key (``key_required``), adds its own fields (each read from ``<PREFIX>_<FIELD>``, with
`help_text` metadata saying what the variable must hold) and extends `validate`. Written once
here:

- reading: `from_env` takes the declared variables and structures them through the project's
  cattrs converter (``adapters.serialization.make_converter``), so ``"45"`` becomes ``45.0``
  and a value that does not parse is a `ConfigError` naming its variable. The converter
  forbids unknown keys, so `from_mapping` (settings given as a mapping) refuses a misspelt
  one; `from_env` reads only the declared variables, because the environment also holds
  other programs' variables with the same prefix (vLLM's own server reads ``VLLM_*``);
- one URL validation (http or https with a host, no ``user:pass@``), one loopback check (a
  server on this machine may go without a key; a key never travels over plain http to another
  machine), one masking (``repr`` shows ``'***'`` for the key and hides a password in the URL).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

import attrs
import cattrs

from adapters.llm._limits import StreamLimits
from adapters.llm._settings import (
    as_secrets,
    check_api_key,
    is_loopback_host,
    refuse_userinfo,
    shown_url,
)
from adapters.serialization import make_converter
from adapters.settings import secret_values
from domain.errors import ConfigError

__all__ = ["HTTPBackendSettings", "help_text", "mask", "optional_text"]

_CONVERTER = make_converter()
_NOT_READ = frozenset({"limits", "secrets"})  # set from CW_MAX_*_BYTES and every secret variable


def optional_text(value: str | None) -> str | None:
    """``value`` stripped; ``None`` when it is unset or blank."""
    return (value or "").strip() or None


def help_text(what: str) -> dict[str, str]:
    """Field metadata saying what its variable must hold, for the message when it does not parse:
    ``attrs.field(default=None, metadata=help_text("a whole number of tokens"))``."""
    return {"help": what}


def mask(value: str | None) -> str:
    """How a key shows in a ``repr``: ``'***'`` when set."""
    return "'***'" if value else "None"


def _default(name: str) -> Any:
    """A default taken from the subclass's class attribute ``name`` (its own base URL, model…)."""
    return attrs.Factory(lambda self: getattr(type(self), name), takes_self=True)


def _base_url(value: str) -> str:
    return value.rstrip("/")


@attrs.frozen(kw_only=True)
class HTTPBackendSettings:
    """How to reach an HTTP backend (see the module docs). ``repr`` never shows the key.

    Attributes:
        api_key: the bearer token; whether one is required is the backend's ``key_required``.
        base_url: the API root (a trailing ``/`` is dropped).
        model: the model used when an agent sets none.
        timeout: the total deadline of one call, in seconds.
        max_retries: retries of a failed call before any output reached the caller.
        limits: the caps on what a reply may make us hold (``CW_MAX_*_BYTES``).
        secrets: every secret value configured, scrubbed from every error (never shown).
    """

    prefix: ClassVar[str]
    """The variables' prefix, e.g. ``VLLM`` for ``VLLM_BASE_URL``."""
    title: ClassVar[str]
    """The backend's name in messages, e.g. ``vLLM``."""
    default_base_url: ClassVar[str]
    default_model: ClassVar[str]
    default_timeout: ClassVar[float] = 120.0
    key_required: ClassVar[Literal["always", "off-machine", "never"]] = "off-machine"
    """When the backend needs a key: ``always`` (a hosted API), ``off-machine`` (a server on
    this machine may go without), or ``never`` (Ollama; a key, when set, is still sent)."""
    key_noun: ClassVar[str] = "key"
    """What the backend calls its key in messages (Hugging Face: ``token``)."""
    header_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    """Fields sent in a header, so checked for characters no header may carry."""
    model_setting_fields: ClassVar[tuple[str, ...]] = ()
    """Fields that are backend-level model settings too (`backend_settings`), when set."""

    api_key: str | None = attrs.field(default=None, converter=optional_text, repr=mask)
    base_url: str = attrs.field(
        default=_default("default_base_url"), converter=_base_url, repr=lambda url: repr(shown_url(url))
    )
    model: str = attrs.field(default=_default("default_model"))
    timeout: float = attrs.field(
        default=_default("default_timeout"), metadata=help_text("a number of seconds")
    )
    max_retries: int = attrs.field(default=2, metadata=help_text("a whole number"))
    limits: StreamLimits = attrs.field(factory=StreamLimits, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False, converter=as_secrets)

    @classmethod
    def variable(cls, field: str) -> str:
        """The variable that sets ``field`` (``base_url`` → ``VLLM_BASE_URL``)."""
        return f"{cls.prefix}_{field.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the ``<prefix>_*`` variables (``os.environ`` when ``environ`` is ``None``).

        Unset or blank variables keep their defaults. A missing key is not an error here, so
        a runtime without this backend still starts; `validate` checks it when the adapter
        is built.

        Raises:
            ConfigError: a value that does not parse, a key that cannot be sent in a header
                (the message names the variable, never the value of a key).
        """
        env = os.environ if environ is None else environ
        values = {
            field.name: raw
            for field in attrs.fields(cls)
            if field.name not in _NOT_READ
            and (raw := optional_text(env.get(cls.variable(field.name)))) is not None
        }
        settings = cls.from_mapping(values)
        return attrs.evolve(settings, limits=StreamLimits.from_env(env), secrets=secret_values(env))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Self:
        """Settings from ``values`` (field → value, strings parsed) through the cattrs converter.

        Raises:
            ConfigError: an unknown key, a value that does not parse, or a key that cannot be
                sent in a header; the message names the variable.
        """
        for field in cls.header_fields:
            raw = values.get(field)
            check_api_key(cls.variable(field), raw if isinstance(raw, str) else None)
        try:
            settings = _CONVERTER.structure(dict(values), cls)
        except cattrs.ClassValidationError as exc:
            raise cls._parse_error(exc, values) from None
        # Said here, naming the variable, so a bad value stops the runtime at start: the
        # registry reads the timeout before `validate`, which runs when an agent needs the backend.
        if "timeout" in values and not (math.isfinite(settings.timeout) and settings.timeout > 0):
            raise ConfigError(
                f"{cls.variable('timeout')} must be a positive number of seconds, not {values['timeout']!r}"
            )
        if "max_retries" in values and settings.max_retries < 0:
            raise ConfigError(
                f"{cls.variable('max_retries')} must be 0 or more, not {values['max_retries']!r}"
            )
        return settings

    @classmethod
    def _parse_error(cls, exc: cattrs.ClassValidationError, values: Mapping[str, Any]) -> ConfigError:
        # A check that ran while the instance was built (a converter, ``__attrs_post_init__``)
        # already said what is wrong, naming the variable: pass it on.
        said = next((error for error in exc.exceptions if isinstance(error, ConfigError)), None)
        if said is not None:
            return said
        located, other = exc.group_exceptions()
        fields = attrs.fields_dict(cls)
        for _error, note in located:
            name = note.name
            what = fields[name].metadata.get("help", "text") if name in fields else "text"
            shown = "***" if name in cls.header_fields else repr(values.get(name))
            return ConfigError(f"{cls.variable(name)} must be {what}, not {shown}")
        unknown = sorted(key for error in other for key in getattr(error, "extra_fields", ()))
        known = ", ".join(field.name for field in attrs.fields(cls) if field.name not in _NOT_READ)
        return ConfigError(f"unknown {cls.title} settings {', '.join(unknown)}; the known ones are {known}")

    def backend_settings(self) -> dict[str, Any]:
        """The backend-level model settings for the registry (``BackendEntry.settings``).

        The model and timeout, and each of ``model_setting_fields`` that is set.
        """
        settings: dict[str, Any] = {"model": self.model, "timeout": self.timeout}
        for name in self.model_setting_fields:
            if (value := getattr(self, name)) is not None:
                settings[name] = value
        return settings

    def _missing_key(self, host: str) -> str:
        """What to say when no key is set for a server at ``host`` that needs one."""
        return f"{self.variable('api_key')} is not set: the {self.title} server at {host} needs a key"

    def validate(self) -> None:
        """Check the settings before any request is sent; subclasses add their own checks.

        Raises:
            ConfigError: a base URL that is not http(s) or holds ``user:pass@``, no key where
                one is needed, the key about to go over plain http to another machine, or a
                nonsensical model, timeout or retry count.
        """
        try:
            url = urlsplit(self.base_url)
            host = url.hostname
        except ValueError:  # an unclosed IPv6 bracket
            url, host = urlsplit(""), None
        if url.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"{self.variable('base_url')} must be an http(s) URL such as {self.default_base_url}, "
                f"not {shown_url(self.base_url)!r}"
            )
        refuse_userinfo(self.base_url, self.variable("base_url"))
        for field in self.header_fields:
            check_api_key(self.variable(field), getattr(self, field))
        local = is_loopback_host(host)
        needed = self.key_required == "always" or (self.key_required == "off-machine" and not local)
        if not self.api_key and needed:
            raise ConfigError(self._missing_key(host))
        if self.api_key and url.scheme == "http" and not local:
            raise ConfigError(
                f"refusing to send the {self.title} {self.key_noun} over plain http to {host}: "
                f"use an https:// {self.variable('base_url')} (plain http is only allowed to localhost)"
            )
        if not self.model.strip():
            raise ConfigError(f"{self.variable('model')} is empty; the default is {self.default_model}")
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigError(
                f"{self.variable('timeout')} must be a positive number of seconds, not {self.timeout}"
            )
        if self.max_retries < 0:
            raise ConfigError(f"{self.variable('max_retries')} must be 0 or more, not {self.max_retries}")
