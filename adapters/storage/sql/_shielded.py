"""`shielded`: a database call, once started, finishes before its caller's cancellation lands.

Cancelling a task in the middle of a query (a client hanging up on a stream, ``stop`` cancelling
a run) would otherwise abort the driver mid-protocol: asyncpg then drops the connection and
logs "unexpected connection_lost()", and a write may be half-sent. Calls are short (one
transaction), so the cancellation is deferred until the call has finished — committed or rolled
back — and then raised as usual. The order of writes is kept: a run's "cancelled" event is
appended after its last chunk, never before it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["shielded"]

P = ParamSpec("P")
R = TypeVar("R")


def _consume(task: asyncio.Future[Any]) -> None:
    # The result belongs to a caller that was cancelled: fetch it so asyncio does not log it.
    if not task.cancelled():
        task.exception()


def shielded(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run ``method`` in its own task and let a cancellation of the caller wait for it to end."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        task = asyncio.ensure_future(method(*args, **kwargs))
        task.add_done_callback(_consume)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                # A second cancellation (anyio cancels again at every await) stops the waiting,
                # not the call: the task still ends on its own, cleanly.
                await asyncio.wait((task,))
            raise

    return call
