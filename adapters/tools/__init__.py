"""Tools that touch the outside world, ready to register into a `ToolRegistry`."""

from __future__ import annotations

from adapters.tools.workspace import BUILTIN_TOOL_NAMES, Workspace, register_workspace_tools, workspace_tools

__all__ = ["BUILTIN_TOOL_NAMES", "Workspace", "register_workspace_tools", "workspace_tools"]
