"""A hostile workspace cannot hang, starve or exhaust a run through the builtin tools (issues 8 and 9).

Bounded by sizes and counts (bytes allocated, entries matched); the few tests whose failure
was a hang run the tool in a thread and give it a generous deadline.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import adapters.tools._walk as walk
from adapters.tools._walk import glob_matches, pattern_parts
from adapters.tools.workspace import MAX_GREP_FILE_BYTES, MAX_READ_CHARS, Workspace, workspace_tools
from application.tools import ToolRegistry
from domain.errors import ToolError
from domain.messages import ToolCall, ToolResult

pytestmark = pytest.mark.anyio

GENEROUS = 60.0  # seconds; only ever reached when the tool hangs (the bug)


def finishes(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a daemon thread; fail (instead of hanging) when it does not finish."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(GENEROUS)
    assert not thread.is_alive(), "the tool hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def run(registry: ToolRegistry, name: str, **arguments: Any) -> ToolResult:
    return await registry.run(ToolCall(id=f"call_{name}", name=name, arguments=arguments))


# --- read -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_read_refuses_a_fifo_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    workspace = Workspace(tmp_path)
    with pytest.raises(ToolError, match="FIFO"):
        finishes(lambda: workspace.read("pipe"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_grep_skips_a_fifo_it_meets(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "a.txt").write_text("needle\n")
    assert finishes(lambda: Workspace(tmp_path).grep("needle")) == "a.txt:1:needle"


def test_one_huge_line_costs_no_more_memory_than_what_is_shown(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        for _ in range(64):
            handle.write(b"a" * (1024 * 1024))  # 64 MiB, one line, no newline
    workspace = Workspace(tmp_path)
    tracemalloc.start()
    try:
        text = workspace.read("big.txt", limit=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # it used to hold the line whole, twice (2.2–2.8 GB for 1 GB)
    assert text.startswith("     1\t" + "a" * 2000 + "… (about ")


def test_one_read_returns_at_most_its_cap_and_says_how_to_go_on(tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_text("".join(f"{n:04} " + "w" * 1500 + "\n" for n in range(1, 1001)))
    text = Workspace(tmp_path).read("wide.txt")
    assert len(text) <= MAX_READ_CHARS + 200
    last = text.splitlines()[-1]
    assert last.startswith(f"… (stopped at {MAX_READ_CHARS} characters; read on with offset=")
    offset = int(last.rsplit("=", 1)[1].rstrip(")"))
    assert (
        Workspace(tmp_path).read("wide.txt", offset=offset, limit=1).startswith(f"{offset:>6}\t{offset:04} ")
    )


# --- grep ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "text"), [("(a+)+$", "a" * 40 + "b"), ("(x+x+)+y", "x" * 5000)])
def test_a_catastrophic_pattern_gives_up_instead_of_spinning(tmp_path: Path, pattern: str, text: str) -> None:
    (tmp_path / "evil.txt").write_text(text + "\n")
    workspace = Workspace(tmp_path, time_budget=1.0)

    def search() -> str:
        try:
            return workspace.grep(pattern)
        except ToolError as error:
            return str(error)

    result = finishes(search)
    assert result.startswith("no matches") or "ran out of time" in result


def test_grep_says_a_file_over_its_size_cap_was_skipped(tmp_path: Path) -> None:
    with (tmp_path / "huge.log").open("wb") as handle:
        handle.truncate(MAX_GREP_FILE_BYTES + 1)
    (tmp_path / "small.log").write_text("nothing here\n")
    named = Workspace(tmp_path).grep("needle", path="huge.log")
    assert "skipped 1 file(s) over" in named
    assert "huge.log" in named
    assert "skipped" in Workspace(tmp_path).grep("needle")


# --- glob -----------------------------------------------------------------------------------------


def test_repeated_double_stars_collapse() -> None:
    assert pattern_parts("**/**/**/**/**/**/**/**/*.txt") == ("**", "*.txt")
    assert pattern_parts("./src/**/**/a/**/*.py") == ("src", "**", "a", "**", "*.py")


def test_glob_with_many_double_stars_on_a_deep_chain_does_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path
    for depth in range(30):
        folder = folder / f"d{depth}"
    folder.mkdir(parents=True)
    (folder / "deep.txt").write_text("x\n")
    matches = 0
    real = walk._segment_regex

    def counting(segment: str) -> Any:
        nonlocal matches
        matches += 1
        return real(segment)

    monkeypatch.setattr(walk, "_segment_regex", counting)
    result = finishes(lambda: Workspace(tmp_path).glob("**/**/**/**/**/**/**/**/*.txt"))
    assert result.endswith("d29/deep.txt")
    assert matches <= 31 * 2  # one walk, each path matched in pattern-length steps (46 s, then minutes)
    matches = 0
    assert Workspace(tmp_path).glob("**/d3/**/d7/**/*.txt").endswith("deep.txt")
    assert matches <= 31 * 31 * 6


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        (("**", "*.py"), ("a.py",), True),
        (("**", "*.py"), ("x", "y", "a.py"), True),
        (("src", "*.md"), ("src", "a.md"), True),
        (("src", "*.md"), ("src", "b", "a.md"), False),
        (("**", "b", "**", "*.md"), ("a", "b", "c", "d.md"), True),
        (("**", "b", "**", "*.md"), ("a", "c", "d.md"), False),
        (("*",), (".env",), True),
    ],
)
def test_glob_segments_match_like_pathlib(
    pattern: tuple[str, ...], path: tuple[str, ...], expected: bool
) -> None:
    assert glob_matches(pattern, path) is expected


def test_a_newline_in_a_file_name_cannot_forge_an_output_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt\nsrc").mkdir()
    forged = tmp_path / "a.txt\nsrc" / "main.py:1:import os"
    forged.write_text("import os\n")
    workspace = Workspace(tmp_path)
    listed = workspace.glob("**/*")
    assert len(listed.splitlines()) == 1
    assert "a.txt\\nsrc/main.py:1:import os" in listed
    found = workspace.grep("import")
    assert found.splitlines() == ["a.txt\\nsrc/main.py:1:import os:1:import os"]


# --- hidden folders and .gitignore (issue 8) --------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in (".venv/lib", ".git", ".pytest_cache", "build", "src/generated", "src/keep"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "src" / ".gitignore").write_text("generated/\n!important.log\n")
    files = {
        ".venv/lib/httpx.py": "import httpx\n",
        ".git/config": "httpx\n",
        ".pytest_cache/x.py": "import httpx\n",
        "build/out.py": "import httpx\n",
        "src/generated/g.py": "import httpx\n",
        "src/app.py": "import httpx\n",
        "src/debug.log": "httpx\n",
        "src/important.log": "httpx\n",
        "src/keep/k.py": "import httpx\n",
        ".env.example": "httpx\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


async def test_glob_and_grep_skip_hidden_folders_and_what_gitignore_excludes(project: Path) -> None:
    registry = workspace_tools(project)
    listed = (await run(registry, "glob", pattern="**/*")).content.splitlines()
    assert listed == [
        ".env.example",
        ".gitignore",
        "src/.gitignore",
        "src/app.py",
        "src/important.log",
        "src/keep/k.py",
    ]
    found = (await run(registry, "grep", pattern="httpx")).content.splitlines()
    assert found == [
        ".env.example:1:httpx",
        "src/app.py:1:import httpx",
        "src/important.log:1:httpx",
        "src/keep/k.py:1:import httpx",
    ]


async def test_a_tool_argument_includes_hidden_and_ignored_files(project: Path) -> None:
    registry = workspace_tools(project)
    listed = (await run(registry, "glob", pattern="**/*.py", include_ignored=True)).content.splitlines()
    assert listed == [
        ".pytest_cache/x.py",
        ".venv/lib/httpx.py",
        "build/out.py",
        "src/app.py",
        "src/generated/g.py",
        "src/keep/k.py",
    ]
    found = (await run(registry, "grep", pattern="httpx", glob="*.log", include_ignored=True)).content
    assert found.splitlines() == ["src/debug.log:1:httpx", "src/important.log:1:httpx"]


async def test_a_folder_named_explicitly_is_searched_even_when_ignored(project: Path) -> None:
    registry = workspace_tools(project)
    assert (await run(registry, "glob", pattern="*.py", path=".venv/lib")).content == ".venv/lib/httpx.py"
    assert (
        await run(registry, "grep", pattern="httpx", path="build")
    ).content == "build/out.py:1:import httpx"
