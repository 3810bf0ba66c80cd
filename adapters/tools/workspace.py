"""The builtin read-only tools ``read``, ``glob`` and ``grep``, confined to one workspace folder.

A model that can read files can be talked into reading ``~/.ssh`` or ``../.env``. Every path a
model gives here — relative, absolute, with ``..`` or through a symlink — is resolved first and
refused unless it lands inside the workspace; the refusal is an error result the model reads,
so it can correct itself. The tools only read.

A hostile workspace (or a model steered by one) must not hang or exhaust the runtime either:
``read`` refuses what is not a regular file (a FIFO would block forever) and reads in blocks
with a cap on what one call returns; ``grep`` uses the ``regex`` engine with a time budget, so
a catastrophic pattern gives up instead of spinning; ``glob`` walks the tree once and matches
each path in linear time, however many ``**`` the pattern has. Both skip hidden folders and
what ``.gitignore`` excludes unless asked (``include_ignored``), and escape control characters
in file names so a name cannot forge an output line.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import regex

from adapters.tools._walk import IgnoreRules, escape_name, glob_matches, pattern_parts, walk_files
from application.tools import ToolRegistry
from domain.errors import ToolError

__all__ = [
    "BUILTIN_TOOL_NAMES",
    "DEFAULT_TIME_BUDGET",
    "Workspace",
    "register_workspace_tools",
    "workspace_tools",
]

BUILTIN_TOOL_NAMES: tuple[str, ...] = ("read", "glob", "grep")

DEFAULT_READ_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_READ_CHARS = 100_000
"""The most characters one ``read`` returns; the rest is a page away (``offset``)."""
MAX_GLOB_RESULTS = 200
DEFAULT_GREP_LIMIT = 100
MAX_GREP_LIMIT = 1000
MAX_GREP_LINE_CHARS = 500
MAX_GREP_SCAN_CHARS = 100_000
"""The first characters of a line that ``grep`` searches; a longer line is searched in part."""
MAX_GREP_FILE_BYTES = 10 * 1024 * 1024
DEFAULT_TIME_BUDGET = 30.0
"""Seconds one ``grep`` may spend matching before it gives up with an error."""
_SCAN_LIMIT = 20_000  # entries a glob looks at before it stops, so a huge tree cannot hang a run
_SNIFF_BYTES = 8192
_BLOCK_BYTES = 64 * 1024
_COUNT_BUDGET_BYTES = 64 * 1024 * 1024  # read counts the lines after its page up to this far
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
        time_budget: seconds one ``grep`` may spend matching.

    Raises:
        ToolError: ``root`` is not an existing folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        secrets: Iterable[str] = (),
        time_budget: float = DEFAULT_TIME_BUDGET,
    ) -> None:
        self.time_budget = time_budget
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

        The file is read in blocks, never whole: a line keeps at most a few thousand
        characters however long it is, one call returns at most `MAX_READ_CHARS` characters,
        and what follows the page is counted only up to `_COUNT_BUDGET_BYTES` more bytes.

        Args:
            file_path: the file, relative to the workspace (or absolute inside it).
            offset: the first line to show, counting from 1.
            limit: how many lines to show at most.
        """
        path = self.resolve(file_path)
        if path.is_dir():
            raise ToolError(f"{file_path!r} is a folder, not a file; use glob to list what it holds")
        handle = _open_regular(path, file_path)
        with handle:
            head = handle.read(_SNIFF_BYTES)
            if _is_binary(head):
                size = os.fstat(handle.fileno()).st_size
                raise ToolError(f"{file_path!r} is a binary file ({size} bytes); only text files can be read")
            handle.seek(0)
            lines = _LineReader(handle, keep=self._keep_bytes(MAX_LINE_CHARS))
            shown: list[str] = []
            chars = 0
            number = 0
            capped = False
            for number, (raw, length) in enumerate(lines, start=1):
                if number < offset:
                    continue
                text = self.redact(raw.decode("utf-8", errors="replace").rstrip("\r"))
                text = _clip(text, MAX_LINE_CHARS, extra=length - len(raw))
                entry = f"{number:>6}\t{text}"
                if shown and chars + len(entry) + 1 > MAX_READ_CHARS:
                    capped = True
                    number -= 1
                    break
                shown.append(entry)
                chars += len(entry) + 1
                if len(shown) == limit:
                    break
            last = offset + len(shown) - 1
            if number == 0:
                return self.redact(f"{escape_name(self.display(path))} is empty")
            if not shown:
                raise ToolError(f"{file_path!r} has {number} lines; offset {offset} is past the end")
            more, complete = lines.count_rest(_COUNT_BUDGET_BYTES) if not capped else (0, False)
        if capped:
            shown.append(f"… (stopped at {MAX_READ_CHARS} characters; read on with offset={last + 1})")
        elif more and complete:
            shown.append(f"… ({more} more lines; read on with offset={last + 1})")
        elif more:
            shown.append(f"… (more lines follow; read on with offset={last + 1})")
        return self.redact("\n".join(shown))

    def _rules(self, base: Path) -> IgnoreRules:
        """The ignore rules for a walk from ``base``: a folder named explicitly is searched even
        when ``.gitignore`` excludes it (then only the rules inside it apply)."""
        rules = IgnoreRules(self.root)
        if base != self.root and rules.ignored(base, is_dir=True):
            return IgnoreRules(base)
        return rules

    def _keep_bytes(self, chars: int) -> int:
        """Bytes of a line worth keeping to show ``chars`` characters, a secret cut at the edge included."""
        longest = max((len(secret.encode("utf-8")) for secret in self._secrets), default=0)
        return chars * 4 + longest + 4

    # --- glob ----------------------------------------------------------------------------------

    def glob(self, pattern: str, path: str | None = None, include_ignored: bool = False) -> str:
        """List the files matching a glob pattern, sorted.

        Args:
            pattern: a glob such as ``**/*.py`` or ``src/*.md``, relative to ``path``.
            path: the folder to search (default: the workspace root).
            include_ignored: also look in hidden folders and what ``.gitignore`` excludes.
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
        parts = pattern_parts(cleaned)
        if not parts:
            raise ToolError(f"the pattern {pattern!r} names no files; try '**/*'")
        # Leading segments without a wildcard name a folder: start there.
        literal = 0
        while literal < len(parts) - 1 and not _WILDCARD.search(parts[literal]):
            literal += 1
        start = base.joinpath(*parts[:literal])
        rest = parts[literal:]
        found: list[str] = []
        scanned = 0
        if start.is_dir() and start.resolve().is_relative_to(self.root):
            depth = None if "**" in rest else len(rest) - 1
            rules = None if include_ignored else self._rules(start)
            for file, relative in walk_files(start, rules=rules, max_depth=depth):
                scanned += 1
                if scanned > _SCAN_LIMIT:
                    break
                if glob_matches(rest, relative) and _inside(file, self.root):
                    found.append(escape_name(self.display(file)))
        where = escape_name(self.display(base))
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
        include_ignored: bool = False,
    ) -> str:
        """Search file contents with a regular expression; one ``file:line:text`` per match.

        Args:
            pattern: a regular expression (Python syntax).
            path: a file or folder to search (default: the workspace root).
            glob: only search files whose name (or path, when it has a '/') matches this glob.
            case_insensitive: ignore case.
            head_limit: the most matching lines to return.
            include_ignored: also search hidden folders and what ``.gitignore`` excludes.
        """
        try:
            compiled = regex.compile(pattern, regex.IGNORECASE if case_insensitive else 0)
        except (regex.error, ValueError, OverflowError) as exc:
            raise ToolError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        base = self.resolve(path)
        head_limit = max(1, min(head_limit, MAX_GREP_LIMIT))
        search = _Search(compiled, deadline=time.monotonic() + self.time_budget)
        matches: list[str] = []
        truncated = False
        skipped: list[str] = []
        for file in self._files_under(base, glob, include_ignored):
            for line in self._grep_file(file, search, skipped):
                if len(matches) == head_limit:
                    truncated = True
                    break
                matches.append(line)
            if truncated:
                break
        where = escape_name(self.display(base))
        notes = []
        if skipped:
            names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
            notes.append(f"… (skipped {len(skipped)} file(s) over {MAX_GREP_FILE_BYTES} bytes: {names})")
        if not matches:
            found = f"no matches for {pattern!r} in {where}" + (f" (files matching {glob!r})" if glob else "")
            return self.redact("\n".join([found, *notes]))
        if truncated:
            matches.append(f"… (stopped at {head_limit} matches; narrow the pattern or raise head_limit)")
        return self.redact("\n".join([*matches, *notes]))

    def _files_under(self, base: Path, glob: str | None, include_ignored: bool) -> Iterator[Path]:
        if base.is_file():
            if glob is None or _glob_filter(glob, (base.name,)):
                yield base
            return
        rules = None if include_ignored else self._rules(base)
        for file, relative in walk_files(base, rules=rules):
            if glob is not None and not _glob_filter(glob, relative):
                continue
            if _inside(file, self.root) and file.is_file():
                yield file

    def _grep_file(self, file: Path, search: _Search, skipped: list[str]) -> Iterator[str]:
        shown = escape_name(self.display(file))
        try:
            handle = _open_regular(file, shown)
        except (ToolError, OSError):
            return  # a FIFO, a device, unreadable or vanished: skip it like grep -s
        with handle:
            if os.fstat(handle.fileno()).st_size > MAX_GREP_FILE_BYTES:
                skipped.append(shown)
                return
            if _is_binary(handle.read(_SNIFF_BYTES)):
                return
            handle.seek(0)
            keep = self._keep_bytes(MAX_GREP_SCAN_CHARS)
            for number, (raw, _length) in enumerate(_LineReader(handle, keep=keep), start=1):
                # Searched redacted, so a pattern cannot probe a secret either.
                text = self.redact(raw.decode("utf-8", errors="replace").rstrip("\r"))
                if search(text):
                    yield f"{shown}:{number}:{_clip(text, MAX_GREP_LINE_CHARS)}"


_WILDCARD = re.compile(r"[*?\[]")


def _inside(file: Path, root: Path) -> bool:
    """Whether ``file`` really lies in ``root`` (a symlink may point outside)."""
    try:
        return file.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _glob_filter(glob: str, relative: tuple[str, ...]) -> bool:
    """grep's ``glob``: the file name without a '/', else the path (``**/`` optional in front)."""
    if "/" not in glob:
        return bool(relative) and glob_matches((glob,), relative[-1:])
    parts = pattern_parts(glob)
    return glob_matches(parts, relative) or glob_matches(("**", *parts), relative)


def _clip(text: str, limit: int, *, extra: int | None = None) -> str:
    """``text`` cut to ``limit`` characters; with ``extra`` (bytes never read), saying how much is left."""
    if extra is None:
        return text if len(text) <= limit else text[:limit] + "…"
    if len(text) <= limit and extra <= 0:
        return text
    if extra <= 0:
        return text[:limit] + f"… ({len(text) - limit} more characters)"
    return text[:limit] + f"… (about {max(len(text) - limit, 0) + extra} more characters)"


def _open_regular(path: Path, shown: str) -> BinaryIO:
    """``path`` opened for reading, refusing what is not a regular file.

    Opened without blocking first: opening a FIFO for reading otherwise waits forever for a
    writer. The type is checked on the open file, so a swap after a check cannot fool it.

    Raises:
        ToolError: a FIFO, socket or device.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
            raise ToolError(f"{shown!r} is {kind}; only regular text files can be read")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Search:
    """One grep's regular expression, bounded in time as a whole.

    The ``regex`` engine releases the GIL while it matches (``concurrent``) and gives up at a
    timeout, so a pattern such as ``(a+)+$`` on ``aaaa…b`` can neither freeze the event loop
    nor keep a worker thread busy after the tool's time is up.
    """

    __slots__ = ("_deadline", "_pattern")

    def __init__(self, pattern: regex.Pattern[str], *, deadline: float) -> None:
        self._pattern = pattern
        self._deadline = deadline

    def __call__(self, text: str) -> bool:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ToolError(_TOO_SLOW)
        try:
            return self._pattern.search(text, concurrent=True, timeout=remaining) is not None
        except TimeoutError:
            raise ToolError(_TOO_SLOW) from None


_TOO_SLOW = (
    "the search ran out of time (a pattern with nested repetition such as (a+)+ can take forever); "
    "simplify the pattern or narrow the path"
)


class _LineReader:
    """The lines of a binary file, read in blocks: ``(first bytes, length)`` per line.

    Memory stays at one block plus ``keep`` bytes whatever the line lengths, so a 1 GB file
    of one line costs no more than a short one.
    """

    def __init__(self, handle: BinaryIO, *, keep: int) -> None:
        self._handle = handle
        self._keep = keep
        self._block = b""
        self._at = 0

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        part = bytearray()
        length = 0
        while True:
            if self._at >= len(self._block):
                self._block = self._handle.read(_BLOCK_BYTES)
                self._at = 0
                if not self._block:
                    break
            block, start = self._block, self._at
            newline = block.find(b"\n", start)
            end = len(block) if newline < 0 else newline
            if len(part) < self._keep:
                part += block[start : min(end, start + self._keep - len(part))]
            length += end - start
            if newline < 0:
                self._at = len(block)
                continue
            self._at = newline + 1
            yield bytes(part), length
            part = bytearray()
            length = 0
        if length:
            yield bytes(part), length

    def count_rest(self, budget: int) -> tuple[int, bool]:
        """Lines after the current position, counted over at most ``budget`` bytes.

        Returns:
            ``(lines, complete)``; ``complete`` is false when the budget ran out first.
        """
        block = self._block[self._at :]
        lines = 0
        seen = 0
        tail = b""
        while block:
            lines += block.count(b"\n")
            tail = block[-1:]
            seen += len(block)
            if seen > budget:
                return max(lines, 1), False
            block = self._handle.read(_BLOCK_BYTES)
        if tail and tail != b"\n":
            lines += 1  # a last line without a newline
        return lines, True


def register_workspace_tools(
    registry: ToolRegistry,
    root: str | os.PathLike[str],
    *,
    names: Sequence[str] = BUILTIN_TOOL_NAMES,
    secrets: Iterable[str] = (),
    time_budget: float = DEFAULT_TIME_BUDGET,
) -> Workspace:
    """Register the builtin tools named in ``names``, confined to ``root``, into ``registry``.

    ``secrets`` (API keys) are replaced by ``***`` in everything the tools return; ``time_budget``
    bounds the seconds one ``grep`` spends matching.

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
    workspace = Workspace(root, secrets=secrets, time_budget=time_budget)
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
                f"returns matching paths, sorted, at most {MAX_GLOB_RESULTS}. Hidden folders and "
                "files .gitignore excludes are skipped unless include_ignored is true."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "minLength": 1, "description": "The glob pattern."},
                    "path": {
                        "type": "string",
                        "description": "The folder to search; default: the workspace.",
                    },
                    "include_ignored": {
                        "type": "boolean",
                        "description": "Also search hidden folders and .gitignore-d files (default false).",
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
                "returns `path:line:text` for each matching line. Hidden folders and files "
                ".gitignore excludes are skipped unless include_ignored is true."
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
                    "include_ignored": {
                        "type": "boolean",
                        "description": "Also search hidden folders and .gitignore-d files (default false).",
                    },
                },
                "required": ["pattern"],
                "additionalProperties": False,
            },
        )
    return workspace


def workspace_tools(
    root: str | os.PathLike[str],
    *,
    names: Sequence[str] = BUILTIN_TOOL_NAMES,
    secrets: Iterable[str] = (),
    timeout: float | None = None,
) -> ToolRegistry:
    """A new `ToolRegistry` holding the builtin tools confined to ``root``.

    ``timeout`` is the registry's default time limit per call (``None``: no limit).
    """
    registry = ToolRegistry(default_timeout=timeout)
    register_workspace_tools(
        registry, root, names=names, secrets=secrets, time_budget=timeout or DEFAULT_TIME_BUDGET
    )
    return registry
