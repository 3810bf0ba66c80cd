"""The builtin read/glob/grep tools read the workspace and nothing outside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from adapters.tools.workspace import BUILTIN_TOOL_NAMES, register_workspace_tools, workspace_tools
from application.tools import ToolRegistry
from domain.errors import ToolError
from domain.messages import ToolCall, ToolResult


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".git").mkdir()
    (root / "src" / "main.py").write_text("import os\n\ndef main():\n    print('héllo')\n", encoding="utf-8")
    (root / "src" / "pkg" / "util.py").write_text("def helper():\n    return 'Hello'\n", encoding="utf-8")
    (root / "docs" / "guide.md").write_text("# Guide\nhello world\n", encoding="utf-8")
    (root / "big.txt").write_text("".join(f"line {n}\n" for n in range(1, 3001)), encoding="utf-8")
    (root / "empty.txt").write_text("", encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (root / ".git" / "config").write_text("hello from git\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("hello secret\n", encoding="utf-8")
    return root


async def _run(registry: ToolRegistry, name: str, **arguments: Any) -> ToolResult:
    return await registry.run(ToolCall(id=f"call_{name}", name=name, arguments=arguments))


def test_the_registry_holds_exactly_the_builtin_tools(tree: Path) -> None:
    registry = workspace_tools(tree)
    assert registry.names() == BUILTIN_TOOL_NAMES == ("read", "glob", "grep")
    read = registry.definitions(["read"])[0]
    assert read.parameters["required"] == ["file_path"]
    assert set(read.parameters["properties"]) == {"file_path", "offset", "limit"}
    grep = registry.definitions(["grep"])[0]
    assert set(grep.parameters["properties"]) == {
        "pattern",
        "path",
        "glob",
        "case_insensitive",
        "head_limit",
        "include_ignored",
    }


def test_only_the_named_builtins_are_registered_and_unknown_names_refused(tree: Path) -> None:
    registry = ToolRegistry()
    register_workspace_tools(registry, tree, names=["grep"])
    assert registry.names() == ("grep",)
    with pytest.raises(ToolError, match="builtin tools: read, glob, grep"):
        register_workspace_tools(ToolRegistry(), tree, names=["bash"])
    with pytest.raises(ToolError, match="not an existing folder"):
        workspace_tools(tree / "missing")


@pytest.mark.anyio
async def test_read_numbers_lines_from_one(tree: Path) -> None:
    result = await _run(workspace_tools(tree), "read", file_path="src/main.py")
    assert not result.is_error
    assert result.content.splitlines() == [
        "     1\timport os",
        "     2\t",
        "     3\tdef main():",
        "     4\t    print('héllo')",
    ]


@pytest.mark.anyio
async def test_read_pages_with_offset_and_limit_and_says_how_to_go_on(tree: Path) -> None:
    registry = workspace_tools(tree)
    default = await _run(registry, "read", file_path="big.txt")
    lines = default.content.splitlines()
    assert len(lines) == 2001
    assert lines[-2] == "  2000\tline 2000"
    assert lines[-1] == "… (1000 more lines; read on with offset=2001)"
    page = await _run(registry, "read", file_path="big.txt", offset=2999, limit=10)
    assert page.content.splitlines() == ["  2999\tline 2999", "  3000\tline 3000"]
    past = await _run(registry, "read", file_path="big.txt", offset=4000)
    assert past.is_error
    assert "has 3000 lines; offset 4000 is past the end" in past.content


@pytest.mark.anyio
async def test_read_explains_missing_binary_empty_and_folders(tree: Path) -> None:
    registry = workspace_tools(tree)
    missing = await _run(registry, "read", file_path="nope.py")
    assert missing.is_error
    assert "does not exist in the workspace" in missing.content
    binary = await _run(registry, "read", file_path="image.png")
    assert binary.is_error
    assert "binary file" in binary.content
    folder = await _run(registry, "read", file_path="src")
    assert "is a folder" in folder.content
    empty = await _run(registry, "read", file_path="empty.txt")
    assert not empty.is_error
    assert empty.content == "empty.txt is empty"
    bad = await _run(registry, "read", file_path="big.txt", offset=0)
    assert bad.is_error
    assert "offset: must be at least 1" in bad.content


@pytest.mark.anyio
@pytest.mark.parametrize("escape", ["../secret.txt", "src/../../secret.txt", "ABSOLUTE", "~/x"])
async def test_paths_outside_the_workspace_are_refused(tree: Path, escape: str) -> None:
    path = str(tree.parent / "secret.txt") if escape == "ABSOLUTE" else escape
    registry = workspace_tools(tree)
    for name, arguments in (
        ("read", {"file_path": path}),
        ("glob", {"pattern": "*", "path": path}),
        ("grep", {"pattern": "hello", "path": path}),
    ):
        result = await _run(registry, name, **arguments)
        assert result.is_error, (name, path)
        assert "outside the workspace" in result.content
        assert "hello secret" not in result.content


@pytest.mark.anyio
async def test_symlinks_escaping_the_workspace_are_refused_and_skipped(tree: Path) -> None:
    os.symlink(tree.parent / "secret.txt", tree / "link.txt")
    os.symlink(tree.parent, tree / "up")
    registry = workspace_tools(tree)
    read = await _run(registry, "read", file_path="link.txt")
    assert read.is_error
    assert "outside the workspace" in read.content
    assert "secret.txt" not in (await _run(registry, "glob", pattern="**/*.txt")).content
    assert "hello secret" not in (await _run(registry, "grep", pattern="secret")).content


@pytest.mark.anyio
async def test_symlinks_inside_the_workspace_are_followed(tree: Path) -> None:
    os.symlink(tree / "docs" / "guide.md", tree / "alias.md")
    result = await _run(workspace_tools(tree), "read", file_path="alias.md")
    assert result.content.splitlines()[0] == "     1\t# Guide"


@pytest.mark.anyio
async def test_glob_lists_sorted_files_relative_to_the_workspace(tree: Path) -> None:
    registry = workspace_tools(tree)
    assert (await _run(registry, "glob", pattern="**/*.py")).content == "src/main.py\nsrc/pkg/util.py"
    assert (await _run(registry, "glob", pattern="*.py", path="src/pkg")).content == "src/pkg/util.py"
    assert (await _run(registry, "glob", pattern="*")).content.splitlines() == [
        "big.txt",
        "empty.txt",
        "image.png",
    ]
    none = await _run(registry, "glob", pattern="**/*.rs")
    assert not none.is_error
    assert none.content == "no files match '**/*.rs' in ."
    assert "config" not in (await _run(registry, "glob", pattern="**/*")).content  # .git is skipped
    assert (await _run(registry, "glob", pattern="../*")).is_error


@pytest.mark.anyio
async def test_glob_caps_its_results(tree: Path) -> None:
    many = tree / "many"
    many.mkdir()
    for n in range(250):
        (many / f"f{n:03}.txt").write_text("x", encoding="utf-8")
    lines = (await _run(workspace_tools(tree), "glob", pattern="many/*.txt")).content.splitlines()
    assert len(lines) == 201
    assert lines[0] == "many/f000.txt"
    assert lines[-1] == "… (50 more files; use a narrower pattern)"


@pytest.mark.anyio
async def test_grep_finds_lines_as_file_line_text(tree: Path) -> None:
    registry = workspace_tools(tree)
    result = await _run(registry, "grep", pattern="hello")
    assert result.content.splitlines() == ["docs/guide.md:2:hello world"]
    insensitive = await _run(registry, "grep", pattern="h[eé]llo", case_insensitive=True)
    assert insensitive.content.splitlines() == [
        "docs/guide.md:2:hello world",
        "src/main.py:4:    print('héllo')",
        "src/pkg/util.py:2:    return 'Hello'",
    ]


@pytest.mark.anyio
async def test_grep_filters_by_glob_and_path_and_caps_matches(tree: Path) -> None:
    registry = workspace_tools(tree)
    only_py = await _run(registry, "grep", pattern="def", glob="*.py")
    assert only_py.content.splitlines() == ["src/main.py:3:def main():", "src/pkg/util.py:1:def helper():"]
    in_pkg = await _run(registry, "grep", pattern="def", path="src/pkg")
    assert in_pkg.content == "src/pkg/util.py:1:def helper():"
    one_file = await _run(registry, "grep", pattern="line 1\\d\\d$", path="big.txt", head_limit=3)
    assert one_file.content.splitlines() == [
        "big.txt:100:line 100",
        "big.txt:101:line 101",
        "big.txt:102:line 102",
        "… (stopped at 3 matches; narrow the pattern or raise head_limit)",
    ]
    with_path_glob = await _run(registry, "grep", pattern="def", glob="**/pkg/*.py")
    assert with_path_glob.content == "src/pkg/util.py:1:def helper():"


@pytest.mark.anyio
async def test_grep_reports_bad_patterns_and_no_matches(tree: Path) -> None:
    registry = workspace_tools(tree)
    bad = await _run(registry, "grep", pattern="(unclosed")
    assert bad.is_error
    assert "not a valid regular expression" in bad.content
    none = await _run(registry, "grep", pattern="zebra", glob="*.md")
    assert not none.is_error
    assert none.content == "no matches for 'zebra' in . (files matching '*.md')"


@pytest.mark.anyio
async def test_configured_secrets_never_come_out_of_a_tool(tree: Path) -> None:
    key = "hf_" + "WorkspaceSecret" * 3
    (tree / ".env").write_text(f"HUGGINGFACE_API_KEY={key}\nOTHER=1\n", encoding="utf-8")
    (tree / "long.txt").write_text("x" * 1990 + key + "\n", encoding="utf-8")  # cut mid-secret
    registry = workspace_tools(tree, secrets=[key])
    read = await _run(registry, "read", file_path=".env")
    assert read.content.splitlines()[0].endswith("HUGGINGFACE_API_KEY=***")
    cut = await _run(registry, "read", file_path="long.txt")
    grep = await _run(registry, "grep", pattern="API_KEY")
    assert ".env:1:HUGGINGFACE_API_KEY=***" in grep.content
    probe = await _run(registry, "grep", pattern="WorkspaceSecret")  # a pattern cannot probe it
    assert probe.content.startswith("no matches")
    for result in (read, cut, grep, probe):
        assert key not in result.content
        assert key[:12] not in result.content
    # values too short to be secrets are not blanked out of ordinary text
    guide = await _run(workspace_tools(tree, secrets=["hello"]), "read", file_path="docs/guide.md")
    assert "hello world" in guide.content
