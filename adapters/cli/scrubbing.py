"""Every byte ``cw`` prints goes through a scrubber: configured secrets never reach the terminal.

Why at the streams and not per message: the README promises that keys never appear in any
output, and a model can repeat a key it was shown (a tool read the ``.env``, a user pasted
it), a server can echo it, a traceback can hold it. Error lines are scrubbed where they are
made; this is the last line of defence for everything else, the model's streamed text
included.

Streamed text arrives in pieces, so a key can be split across two writes. `ScrubbingWriter`
therefore holds back the shortest tail of what it was given that could still begin a secret,
and writes it out once the next piece shows it is not one (or at `release`). Nothing else is
delayed: a tail that cannot begin any secret is written at once.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

__all__ = ["ScrubbingWriter", "scrubbed_std_streams"]

_MASK = "***"
_MIN_SECRET_CHARS = 4


class ScrubbingWriter:
    """A text stream that writes to ``target`` with every secret replaced by ``***``.

    Args:
        target: the real stream.
        secrets: called on each write for the values to hide (settings are read lazily,
            so the values may appear after the stream was wrapped).
    """

    def __init__(self, target: TextIO, secrets: Callable[[], Sequence[str]]) -> None:
        self._target = target
        self._secrets = secrets
        self._held = ""

    def _values(self) -> list[str]:
        return sorted({s for s in self._secrets() if len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True)

    def write(self, text: str) -> int:
        values = self._values()
        pending = self._held + text
        for value in values:
            pending = pending.replace(value, _MASK)
        keep = _risky_tail(pending, values)
        self._held = pending[len(pending) - keep :] if keep else ""
        ready = pending[: len(pending) - keep]
        if ready:
            self._target.write(ready)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def release(self) -> None:
        """Write out what was held back (the end of the output: nothing more can complete it)."""
        held, self._held = self._held, ""
        if held:
            self._target.write(held)
        with contextlib.suppress(Exception):
            self._target.flush()

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:
        # isatty, encoding, errors, fileno, buffer…: the real stream's.
        return getattr(self._target, name)


def _risky_tail(text: str, secrets: Sequence[str]) -> int:
    """The length of the longest end of ``text`` that is the beginning of a secret."""
    longest = 0
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:size]):
                longest = size
                break
    return longest


@contextlib.contextmanager
def scrubbed_std_streams(secrets: Callable[[], Sequence[str]]) -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through `ScrubbingWriter` for the duration."""
    out, err = sys.stdout, sys.stderr
    wrapped_out, wrapped_err = ScrubbingWriter(out, secrets), ScrubbingWriter(err, secrets)
    sys.stdout, sys.stderr = wrapped_out, wrapped_err
    try:
        yield
    finally:
        wrapped_out.release()
        wrapped_err.release()
        if sys.stdout is wrapped_out:
            sys.stdout = out
        if sys.stderr is wrapped_err:
            sys.stderr = err
