"""`RunAgent`: the agent loop — ask the model, run the tools it asks for, repeat — as a stream of events.

The loop is where the original system lost data: tool results whose ids no longer matched
their calls, failed tools reported to the model as empty strings, invalid calls dropped
without a word, and runs that stopped at the turn limit or on cancellation without telling
anyone. Here each call gets exactly one ``tool`` message carrying its own id, every failure is
text the model reads, every message is saved as it happens, and every run ends with exactly
one `RunEnded` — completed, max_turns, failed or cancelled — with the store left consistent
(an assistant message that asked for tools is always followed by one result per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs

from application.agent_run import CANCELLED_RESULT, INTERRUPTED_RESULT, AgentRun, ImageLike, RunDependencies
from application.cancel import CancelToken
from application.registry import BackendRegistry
from domain.events import RunEnded, RunEvent
from domain.model_config import Agent
from domain.ports import ConversationStorePort, ToolRunnerPort

__all__ = [
    "CANCELLED_RESULT",
    "DEFAULT_MAX_TOOL_CALLS",
    "INTERRUPTED_RESULT",
    "CancelToken",
    "ImageLike",
    "RunAgent",
]

T = TypeVar("T")

DEFAULT_MAX_TOOL_CALLS = 32
"""The most tool calls `RunAgent` runs from one model reply, unless told otherwise."""


@attrs.define
class RunAgent:
    """Runs an agent on a prompt, in a conversation, until the model answers without tools.

    Attributes:
        backends: resolves the agent's backend and normalised config to an adapter.
        store: where every message is saved as it happens.
        tools: runs the tools; the agent is offered only the tools it names.
        max_turns: the most model calls one run may make.
        max_tool_calls: the most tool calls run from one reply; each call past it gets an
            error result saying so (a model asking for 10^5 calls must not run them all).
    """

    backends: BackendRegistry
    store: ConversationStorePort
    tools: ToolRunnerPort
    max_turns: int = attrs.field(default=25)
    max_tool_calls: int = attrs.field(default=DEFAULT_MAX_TOOL_CALLS)

    @max_turns.validator
    def _at_least_one(self, attribute: object, value: int) -> None:
        if value < 1:
            raise ValueError("max_turns must be at least 1")

    @max_tool_calls.validator
    def _at_least_one_call(self, attribute: object, value: int) -> None:
        if value < 1:
            raise ValueError("max_tool_calls must be at least 1")

    def stream(
        self,
        agent: Agent,
        prompt: str | None,
        *,
        conversation_id: str | None = None,
        images: Sequence[ImageLike] = (),
        cancel: CancelToken | None = None,
        streaming: bool = True,
    ) -> AsyncGenerator[RunEvent, None]:
        """Run the agent, yielding events as they happen; the last one is always a `RunEnded`.

        Args:
            agent: the agent (system prompt, backend, model overrides, tool names).
            prompt: the user's message; ``None`` continues the stored conversation as it is
                (a service saved the user message or the client tool results before the run).
            conversation_id: continue this conversation (a new id when ``None``).
            images: images for the user message (`ImageInput`, or a URL, data URI or path).
            cancel: stops the run promptly, even mid-stream, ending with ``CANCELLED``.
            streaming: ask the model for streamed replies (`LLMPort.stream`); ``False`` sends
                non-streaming requests (`LLMPort.complete`), so no deltas come, only each
                `ResponseCompleted`.

        Returns:
            An async iterator of the model's stream events plus `MessageAppended`,
            `ToolExecutionStarted`, `ToolExecutionFinished` and exactly one final `RunEnded`.
            When the tool runner answers a call with `ToolPending` (a client tool), the run
            ends ``WAITING_FOR_TOOL`` once the reply's other calls are done, listing every
            client call of that reply in ``RunEnded.pending_tool_calls``.
            Errors do not escape: an `AgentError` ends the run as ``FAILED``, and so does any
            other exception (a bug in a plugged-in adapter or store), wrapped in an
            `AgentError` chained to it. Closing the iterator early or cancelling the task
            stops the run and keeps the store consistent.
        """
        dependencies = RunDependencies(
            backends=self.backends,
            store=self.store,
            tools=self.tools,
            max_turns=self.max_turns,
            max_tool_calls=self.max_tool_calls,
        )
        run = AgentRun(dependencies, agent, conversation_id or uuid.uuid4().hex, cancel, streaming=streaming)
        return run.events(prompt, images)

    async def run(
        self,
        agent: Agent,
        prompt: str,
        *,
        conversation_id: str | None = None,
        images: Sequence[ImageLike] = (),
        cancel: CancelToken | None = None,
        on_event: Callable[[RunEvent], None] | None = None,
        streaming: bool = True,
    ) -> RunEnded:
        """Run the agent to the end and return the terminal event (see `stream`).

        Args:
            on_event: called with every event, the final `RunEnded` included.
        """
        events = self.stream(
            agent, prompt, conversation_id=conversation_id, images=images, cancel=cancel, streaming=streaming
        )
        async with contextlib.aclosing(events):
            async for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, RunEnded):
                    return event
        raise RuntimeError("the run ended without a RunEnded event")  # pragma: no cover - a bug

    def run_sync(
        self,
        agent: Agent,
        prompt: str,
        *,
        conversation_id: str | None = None,
        images: Sequence[ImageLike] = (),
        cancel: CancelToken | None = None,
        on_event: Callable[[RunEvent], None] | None = None,
        streaming: bool = True,
    ) -> RunEnded:
        """`run` for plain synchronous code.

        Without a running event loop in this thread it uses ``asyncio.run`` (so Ctrl-C cancels
        the run cleanly). Called from inside a running loop — a notebook, a sync helper in an
        async app — it runs on a worker thread with its own loop and blocks until done.
        ``on_event`` is then called on that worker thread.
        """
        coroutine = self.run(
            agent,
            prompt,
            conversation_id=conversation_id,
            images=images,
            cancel=cancel,
            on_event=on_event,
            streaming=streaming,
        )
        if not _loop_running():
            return asyncio.run(coroutine)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-run") as pool:
            return pool.submit(asyncio.run, coroutine).result()

    def iter_sync(
        self,
        agent: Agent,
        prompt: str,
        *,
        conversation_id: str | None = None,
        images: Sequence[ImageLike] = (),
        cancel: CancelToken | None = None,
        streaming: bool = True,
    ) -> Iterator[RunEvent]:
        """`stream` for plain synchronous code: ``for event in run_agent.iter_sync(...)``.

        Stopping the iteration early (``break``) stops the run and keeps the store consistent.
        Works with or without a running event loop in the calling thread.
        """
        events = self.stream(
            agent, prompt, conversation_id=conversation_id, images=images, cancel=cancel, streaming=streaming
        )
        runner = asyncio.Runner()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-iter") if _loop_running() else None

        def call(coroutine: Coroutine[Any, Any, T]) -> T:
            if pool is None:
                return runner.run(coroutine)
            return pool.submit(runner.run, coroutine).result()

        async def step() -> RunEvent | None:
            try:
                return await events.__anext__()
            except StopAsyncIteration:
                return None

        async def close() -> None:
            await events.aclose()

        try:
            while (event := call(step())) is not None:
                yield event
        finally:
            try:
                call(close())
            finally:
                if pool is None:
                    runner.close()
                else:
                    pool.submit(runner.close).result()
                    pool.shutdown()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
