"""The wiring values of each environment the container can be built for.

Environments differ only in configuration, never in code: the container has one set of
providers, and these plain dictionaries choose among them. ``production`` uses the real
backends configured by the environment (``AI_BACKEND`` picks the default); ``test`` makes
the scripted fake backend the default, so nothing leaves the machine unless a test asks for
another backend by name. Both keep conversations in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from domain.errors import ConfigError

__all__ = ["ENVIRONMENTS", "environment_config"]

_ALL_BACKENDS = None
"""``backends: None`` registers every backend of `adapters.llm.SPECS`, in its order."""

ENVIRONMENTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "production": MappingProxyType(
            {
                "backends": _ALL_BACKENDS,
                # None: the settings decide (AI_BACKEND, else huggingface).
                "default_backend": None,
                "store": "memory",
                "max_turns": 25,
                # `cw run --backend fake hi` answers "hi": an echo once the script (empty) runs out.
                "fake_echo": True,
            }
        ),
        "test": MappingProxyType(
            {
                "backends": _ALL_BACKENDS,
                "default_backend": "fake",
                "store": "memory",
                "max_turns": 25,
                # Tests script every reply: one request too many is an error, not an echo.
                "fake_echo": False,
            }
        ),
    }
)
"""Environment name → the container's configuration values."""


def environment_config(name: str) -> dict[str, Any]:
    """A fresh, mutable copy of the configuration of environment ``name``.

    Raises:
        ConfigError: ``name`` is not a known environment.
    """
    try:
        values = ENVIRONMENTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown environment {name!r}; set CW_ENV to one of {', '.join(ENVIRONMENTS)}"
        ) from None
    config = {key: (list(value) if isinstance(value, tuple) else value) for key, value in values.items()}
    if config.get("backends") is None:
        from adapters.llm import SPECS  # imported here: the backends' settings import this module

        config["backends"] = [spec.name for spec in SPECS]
    return config
