"""The builtin read-only tools ``read``, ``glob`` and ``grep``, confined to one workspace folder.

A model that can read files can be talked into reading ``~/.ssh`` or ``../.env``. Every path a
model gives here — relative, absolute, with ``..`` or through a symlink — is resolved first and
refused unless it lands inside the workspace; the refusal is an error result the model reads,
so it can correct itself. Output is bounded (lines, matches, characters) so a single call
cannot flood the model's context. The tools only read.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from application.tools import ToolRegistry
from domain.errors import ToolError

__all__ = ["BUILTIN_TOOL_NAMES", "Workspace", "register_workspace_tools", "workspace_tools"]

BUILTIN_TOOL_NAMES: tuple[str, ...] = ("read", "glob", "grep")

DEFAULT_READ_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_GLOB_RESULTS = 200
DEFAULT_GREP_LIMIT = 100
MAX_GREP_LIMIT = 1000
MAX_GREP_LINE_CHARS = 500
MAX_GREP_FILE_BYTES = 10 * 1024 * 1024
_SCAN_LIMIT = 20_000  # entries a glob looks at before it stops, so a huge tree cannot hang a run
_SNIFF_BYTES = 8192
_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})
_MIN_SECRET_CHARS = 8


def _is_binary(head: bytes) -> bool:
    return b"\x00" in head


class Workspace:
    """A folder the builtin tools may read, and nothing outside it.

    Args:
        root: the workspace folder; it must exist.
        secrets: values that must never leave through a tool (API keys): a workspace often
            holds the ``.env`` they were read from, and whatever a tool returns is sent to the
            model and shown to the user. Each is replaced by ``***`` in every result.

    Raises:
        ToolError: ``root`` is not an existing folder.
    """

    def __init__(self, root: str | os.PathLike[str], *, secrets: Iterable[str] = ()) -> None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ToolError(
                f"the workspace {str(path)!r} is not an existing folder; pass --workspace with a folder"
            )
        self.root = path.resolve()
        # Longest first, so a secret containing another is replaced whole; very short values
        # would blank out ordinary text and are not secrets worth the name.
        self._secrets = tuple(
            sorted({value for value in secrets if len(value) >= _MIN_SECRET_CHARS}, key=len, reverse=True)
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def resolve(self, path: str | None, *, must_exist: bool = True) -> Path:
        """The real path of ``path`` (relative to the root unless absolute), if inside the workspace.

        Raises:
            ToolError: the path leaves the workspace (``..``, absolute, symlink) or does not exist.
        """
        given = (path or ".").strip() or "."
        candidate = Path(given).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        real = candidate.resolve()
        if not real.is_relative_to(self.root):
            raise ToolError(
                f"{given!r} is outside the workspace {str(self.root)!r}; only paths inside it can be read. "
                "Use a path relative to the workspace."
            )
        if must_exist and not real.exists():
            raise ToolError(f"{given!r} does not exist in the workspace; use glob to find files")
        return real

    def display(self, path: Path) -> str:
        """``path`` relative to the root, in POSIX form (``.`` for the root itself)."""
        relative = path.relative_to(self.root).as_posix()
        return relative or "."

    # --- read ----------------------------------------------------------------------------------

    def read(self, file_path: str, offset: int = 1, limit: int = DEFAULT_READ_LIMIT) -> str:
        """Read a text file as numbered lines.

        Args:
            file_path: the file, relative to the workspace (or absolute inside it).
            offset: the first line to show, counting from 1.
            limit: how many lines to show at most.
        """
        path = self.resolve(file_path)
        if path.is_dir():
            raise ToolError(f"{file_path!r} is a folder, not a file; use glob to list what it holds")
        with path.open("rb") as handle:
            if _is_binary(handle.read(_SNIFF_BYTES)):
                size = path.stat().st_size
                raise ToolError(f"{file_path!r} is a binary file ({size} bytes); only text files can be read")
            handle.seek(0)
            shown: list[str] = []
            total = 0
            for number, raw in enumerate(handle, start=1):
                total = number
                if offset <= number < offset + limit:
                    text = self.redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    if len(text) > MAX_LINE_CHARS:
                        text = text[:MAX_LINE_CHARS] + f"… ({len(text) - MAX_LINE_CHARS} more characters)"
                    shown.append(f"{number:>6}\t{text}")
        if total == 0:
            return self.redact(f"{self.display(path)} is empty")
        if offset > total:
            raise ToolError(f"{file_path!r} has {total} lines; offset {offset} is past the end")
        last = offset + len(shown) - 1
        if last < total:
            shown.append(f"… ({total - last} more lines; read on with offset={last + 1})")
        return self.redact("\n".join(shown))

    # --- glob ----------------------------------------------------------------------------------

    def glob(self, pattern: str, path: str | None = None) -> str:
        """List the files matching a glob pattern, sorted.

        Args:
            pattern: a glob such as ``**/*.py`` or ``src/*.md``, relative to ``path``.
            path: the folder to search (default: the workspace root).
        """
        base = self.resolve(path)
        if not base.is_dir():
            raise ToolError(f"{path!r} is not a folder; glob searches folders")
        cleaned = pattern.strip()
        if not cleaned or Path(cleaned).is_absolute() or ".." in PurePosixPath(cleaned).parts:
            raise ToolError(
                f"the pattern {pattern!r} must be relative and stay inside the folder "
                "(no leading '/', no '..')"
            )
        found: list[str] = []
        scanned = 0
        for match in base.glob(cleaned):
            scanned += 1
            if scanned > _SCAN_LIMIT:
                break
            if _SKIPPED_DIRS.intersection(match.relative_to(base).parts) or not match.is_file():
                continue
            if match.resolve().is_relative_to(self.root):  # a symlink may point outside
                found.append(self.display(match))
        where = self.display(base)
        if not found:
            return self.redact(f"no files match {pattern!r} in {where}")
        found.sort()
        lines = found[:MAX_GLOB_RESULTS]
        if len(found) > MAX_GLOB_RESULTS:
            lines.append(f"… ({len(found) - MAX_GLOB_RESULTS} more files; use a narrower pattern)")
        if scanned > _SCAN_LIMIT:
            lines.append(
                f"… (stopped after looking at {_SCAN_LIMIT} entries; use a narrower pattern or path)"
            )
        return self.redact("\n".join(lines))

    # --- grep ----------------------------------------------------------------------------------

    def grep(
        self,
        pattern: str,
        path: str | None = None,
        glob: str | None = None,
        case_insensitive: bool = False,
        head_limit: int = DEFAULT_GREP_LIMIT,
    ) -> str:
        """Search file contents with a regular expression; one ``file:line:text`` per match.

        Args:
            pattern: a Python regular expression.
            path: a file or folder to search (default: the workspace root).
            glob: only search files whose name (or path, when it has a '/') matches this glob.
            case_insensitive: ignore case.
            head_limit: the most matching lines to return.
        """
        try:
            regex = re.compile(pattern, re.IGNORECASE if case_insensitive else 0)
        except re.error as exc:
            raise ToolError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        base = self.resolve(path)
        head_limit = max(1, min(head_limit, MAX_GREP_LIMIT))
        matches: list[str] = []
        truncated = False
        for file in self._files_under(base, glob):
            for line in self._grep_file(file, regex):
                if len(matches) == head_limit:
                    truncated = True
                    break
                matches.append(line)
            if truncated:
                break
        where = self.display(base)
        if not matches:
            found = f"no matches for {pattern!r} in {where}" + (f" (files matching {glob!r})" if glob else "")
            return self.redact(found)
        if truncated:
            matches.append(f"… (stopped at {head_limit} matches; narrow the pattern or raise head_limit)")
        return self.redact("\n".join(matches))

    def _files_under(self, base: Path, glob: str | None) -> Iterator[Path]:
        if base.is_file():
            if glob is None or self._glob_matches(base, base.parent, glob):
                yield base
            return
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(name for name in dirs if name not in _SKIPPED_DIRS)
            for name in sorted(files):
                file = Path(folder) / name
                if glob is not None and not self._glob_matches(file, base, glob):
                    continue
                real = file.resolve()
                if real.is_relative_to(self.root) and real.is_file():
                    yield file

    @staticmethod
    def _glob_matches(file: Path, base: Path, glob: str) -> bool:
        if "/" not in glob:
            return fnmatch.fnmatch(file.name, glob)
        relative = file.relative_to(base).as_posix()
        stripped = glob[3:] if glob.startswith("**/") else glob
        return fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(relative, stripped)

    def _grep_file(self, file: Path, regex: re.Pattern[str]) -> Iterator[str]:
        try:
            if file.stat().st_size > MAX_GREP_FILE_BYTES:
                return
            with file.open("rb") as handle:
                if _is_binary(handle.read(_SNIFF_BYTES)):
                    return
                handle.seek(0)
                shown = self.display(file)
                for number, raw in enumerate(handle, start=1):
                    # Searched redacted, so a pattern cannot probe a secret either.
                    text = self.redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    if regex.search(text):
                        if len(text) > MAX_GREP_LINE_CHARS:
                            text = text[:MAX_GREP_LINE_CHARS] + "…"
                        yield f"{shown}:{number}:{text}"
        except OSError:
            return  # unreadable (permissions, vanished): skip it like grep -s


def register_workspace_tools(
    registry: ToolRegistry,
    root: str | os.PathLike[str],
    *,
    names: Sequence[str] = BUILTIN_TOOL_NAMES,
    secrets: Iterable[str] = (),
) -> Workspace:
    """Register the builtin tools named in ``names``, confined to ``root``, into ``registry``.

    ``secrets`` (API keys) are replaced by ``***`` in everything the tools return.

    Returns:
        The workspace the tools read.

    Raises:
        ToolError: ``root`` is not a folder, a name is not a builtin tool, or is taken.
    """
    unknown = [name for name in names if name not in BUILTIN_TOOL_NAMES]
    if unknown:
        raise ToolError(
            f"unknown builtin tool(s) {', '.join(map(repr, unknown))}; "
            f"builtin tools: {', '.join(BUILTIN_TOOL_NAMES)}"
        )
    workspace = Workspace(root, secrets=secrets)
    if "read" in names:
        registry.register(
            workspace.read,
            name="read",
            description=(
                "Read a text file in the workspace. Returns numbered lines (number, tab, text); "
                f"at most `limit` lines (default {DEFAULT_READ_LIMIT}) from line `offset` (default 1)."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "file_path": {"type": "string", "description": "The file, relative to the workspace."},
                    "offset": {"type": "integer", "minimum": 1, "description": "The first line, from 1."},
                    "limit": {"type": "integer", "minimum": 1, "description": "How many lines at most."},
                },
                "required": ["file_path"],
                "additionalProperties": False,
            },
        )
    if "glob" in names:
        registry.register(
            workspace.glob,
            name="glob",
            description=(
                "Find files in the workspace by glob pattern (such as **/*.py); "
                f"returns matching paths, sorted, at most {MAX_GLOB_RESULTS}."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "minLength": 1, "description": "The glob pattern."},
                    "path": {
                        "type": "string",
                        "description": "The folder to search; default: the workspace.",
                    },
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
        )
    if "grep" in names:
        registry.register(
            workspace.grep,
            name="grep",
            description=(
                "Search the contents of files in the workspace with a regular expression; "
                "returns `path:line:text` for each matching line."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "minLength": 1, "description": "A regular expression."},
                    "path": {"type": "string", "description": "A file or folder; default: the workspace."},
                    "glob": {"type": "string", "description": "Only files matching this glob, e.g. *.py."},
                    "case_insensitive": {"type": "boolean", "description": "Ignore case."},
                    "head_limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_GREP_LIMIT,
                        "description": f"The most matching lines to return (default {DEFAULT_GREP_LIMIT}).",
                    },
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
        )
    return workspace


def workspace_tools(
    root: str | os.PathLike[str], *, names: Sequence[str] = BUILTIN_TOOL_NAMES, secrets: Iterable[str] = ()
) -> ToolRegistry:
    """A new `ToolRegistry` holding the builtin tools confined to ``root``."""
    registry = ToolRegistry()
    register_workspace_tools(registry, root, names=names, secrets=secrets)
    return registry
