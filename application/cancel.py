"""`CancelToken`: ask a running agent to stop, from any thread, sync or async.

A user presses Ctrl-C in a chat, a web request disconnects, a GUI button is clicked on
another thread: the run must stop promptly — even mid-stream, where the original system
kept waiting for the model — and leave the conversation consistent. The token is the one
signal for all of these; `RunAgent` checks it between steps and races it against the model
stream and the tools.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelToken"]


class CancelToken:
    """A one-way switch: once cancelled, it stays cancelled. Thread-safe."""

    def __init__(self) -> None:
        self._cancelled = False
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """Whether `cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Ask the run to stop. Safe to call from any thread, and more than once."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def add_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once when cancelled (at once if already cancelled).

        The callback may run on the thread that calls `cancel`; an asyncio user should hop to
        its loop with ``loop.call_soon_threadsafe``.

        Returns:
            A function that removes the callback again.
        """
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self._cancelled})"
