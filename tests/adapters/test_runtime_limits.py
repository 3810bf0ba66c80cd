"""The runtime's limits are settings with defaults, wired by the container (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.container import build_container
from adapters.settings import DEFAULT_MAX_TOOL_CALLS, DEFAULT_TOOL_TIMEOUT, Settings
from domain.errors import ConfigError


def test_every_tool_gets_the_default_time_limit(tmp_path: Path) -> None:
    container = build_container("test", environ={})
    container.config.workspace.from_value(str(tmp_path))
    tools = container.tools()
    assert DEFAULT_TOOL_TIMEOUT == 60.0
    assert {name: tools.get(name).timeout for name in ("read", "glob", "grep")} == {
        "read": 60.0,
        "glob": 60.0,
        "grep": 60.0,
    }
    assert container.run_agent().max_tool_calls == DEFAULT_MAX_TOOL_CALLS == 32


def test_the_limits_come_from_the_environment(tmp_path: Path) -> None:
    container = build_container("test", environ={"CW_TOOL_TIMEOUT": "2.5", "CW_MAX_TOOL_CALLS": "4"})
    container.config.workspace.from_value(str(tmp_path))

    def mine() -> str:
        """An application's tool gets the same default."""
        return "x"

    container.app_tools.override([mine])
    assert container.tools().get("mine").timeout == 2.5
    assert container.tools().get("grep").timeout == 2.5
    assert container.run_agent().max_tool_calls == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CW_TOOL_TIMEOUT", "0"),
        ("CW_TOOL_TIMEOUT", "soon"),
        ("CW_MAX_TOOL_CALLS", "0"),
        ("CW_MAX_TOOL_CALLS", "x"),
    ],
)
def test_nonsense_limits_are_config_errors_naming_the_variable(name: str, value: str) -> None:
    settings = Settings.load({name: value})
    with pytest.raises(ConfigError, match=name):
        settings.tool_timeout() if name == "CW_TOOL_TIMEOUT" else settings.max_tool_calls()
