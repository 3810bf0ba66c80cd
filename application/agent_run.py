"""One run of an agent: the state machine behind `RunAgent.stream`.

Kept apart from `application.run_agent` so the public use case stays short. A run owns an
inbox (an ``asyncio.Queue``) that three producers feed — the model stream's pump task, the
tool tasks and the cancel token — so a cancel overtakes a slow stream or a stuck tool at
once, and the loop itself only ever awaits one thing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence

import attrs

from application.cancel import CancelToken
from application.registry import BackendRegistry
from domain.errors import AgentError, ConfigError, RunCancelledError, StreamError
from domain.events import (
    MessageAppended,
    ResponseCompleted,
    RunEnded,
    RunEvent,
    RunStatus,
    StreamEvent,
    ToolExecutionFinished,
    ToolExecutionStarted,
)
from domain.messages import (
    AIResponse,
    ChatMessage,
    FinishReason,
    ImageInput,
    Role,
    ToolCall,
    ToolDefinition,
    ToolPending,
    ToolResult,
    Usage,
)
from domain.model_config import Agent
from domain.ports import ConversationStorePort, LLMPort, ToolRunnerPort

__all__ = ["CANCELLED_RESULT", "INTERRUPTED_RESULT", "AgentRun", "ImageLike", "RunDependencies"]

CANCELLED_RESULT = "Error: cancelled by the user before this tool call finished; it has no result."
"""The result recorded for a tool call that a cancelled run never finished."""

INTERRUPTED_RESULT = (
    "Error: this tool call was interrupted before it finished (the program stopped); no result."
)
"""The result recorded, at the next run, for calls a crashed run left unanswered."""

ImageLike = ImageInput | str

_CANCEL = object()

_FINISHED_NORMALLY = frozenset({FinishReason.STOP, FinishReason.TOOL_CALLS})
"""Finish reasons of a reply whose tool calls may run; any other reply was cut short."""


@attrs.frozen(kw_only=True)
class _StreamEnd:
    error: BaseException | None = None


@attrs.frozen(kw_only=True)
class _ToolDone:
    index: int
    result: ToolResult | None
    """``None``: the call runs on the client (`ToolPending`)."""


class _Cancelled(Exception):
    """Unwinds a run to its terminal event when the cancel token fires."""


class _Paused(Exception):
    """Unwinds a run whose reply waits for client tools; ``calls`` are those calls."""

    def __init__(self, calls: tuple[ToolCall, ...]) -> None:
        super().__init__("waiting for client tools")
        self.calls = calls


@attrs.frozen(kw_only=True)
class RunDependencies:
    """What a run needs from its use case, as a value (`RunAgent` builds it for each run).

    Attributes:
        backends: resolves the agent's backend and normalised config to an adapter.
        store: where every message is saved as it happens.
        tools: runs the tools; the agent is offered only the tools it names.
        max_turns: the most model calls one run may make.
        max_tool_calls: the most tool calls run from one reply.
    """

    backends: BackendRegistry
    store: ConversationStorePort
    tools: ToolRunnerPort
    max_turns: int
    max_tool_calls: int


class AgentRun:
    """The state of one run: the conversation so far, usage, and what is in flight."""

    def __init__(
        self,
        deps: RunDependencies,
        agent: Agent,
        conversation_id: str,
        cancel: CancelToken | None,
        *,
        streaming: bool = True,
    ) -> None:
        self.deps = deps
        self.streaming = streaming
        """Ask for streamed replies (`LLMPort.stream`); ``False`` asks for whole ones (`complete`)."""
        self.agent = agent
        self.conversation_id = conversation_id
        self.cancel = cancel
        self.messages: list[ChatMessage] = []
        self.usage = Usage()
        self.turns = 0
        self.response: AIResponse | None = None
        self.llm: LLMPort | None = None
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.pump: asyncio.Task[None] | None = None
        self.tool_tasks: list[asyncio.Task[None]] = []
        self.unanswered: list[tuple[int, ToolCall]] = []
        """Calls of the saved assistant message that have no saved result yet, in call order."""
        self.ready: dict[int, ToolResult] = {}
        """Results of finished tool calls, by call index."""
        self.reported: set[int] = set()
        """Indexes whose `ToolExecutionFinished` was already yielded."""

    @property
    def cancel_requested(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    async def events(self, prompt: str | None, images: Sequence[ImageLike]) -> AsyncGenerator[RunEvent, None]:
        loop = asyncio.get_running_loop()
        unsubscribe: Callable[[], None] = lambda: None  # noqa: E731
        if self.cancel is not None:
            unsubscribe = self.cancel.add_callback(lambda: _post(loop, self.inbox, _CANCEL))
        finished = False
        try:
            status = RunStatus.FAILED
            error: AgentError | None = None
            pending: tuple[ToolCall, ...] = ()
            settled: list[RunEvent] = []
            try:
                async with contextlib.aclosing(self._loop(prompt, images)) as steps:
                    async for event in steps:
                        if isinstance(event, RunStatus):
                            status = event
                        else:
                            yield event
            except _Paused as paused:
                status, pending = RunStatus.WAITING_FOR_TOOL, paused.calls
            except _Cancelled:
                status = RunStatus.CANCELLED
                error = RunCancelledError(
                    "the run was cancelled by the user; the history saved so far is intact"
                )
            except AgentError as exc:
                status, error = RunStatus.FAILED, exc
            except Exception as exc:
                # A bug in an adapter, a store or a tool runner the embedding application
                # plugged in: the run still ends with its one terminal event, and says what broke.
                status, error = RunStatus.FAILED, _unexpected(exc)
            settled = await self._settle(reason=CANCELLED_RESULT)
            for event in settled:
                yield event
            unsubscribe()
            await self._close_llm()
            finished = True
            yield RunEnded(
                status=status,
                conversation_id=self.conversation_id,
                messages=tuple(self.messages),
                response=self.response,
                usage=self.usage,
                turns=self.turns,
                error=error,
                pending_tool_calls=pending,
            )
        finally:
            unsubscribe()
            if not finished:  # closed early, task cancelled, or a bug: still leave the store consistent
                with contextlib.suppress(Exception):
                    await self._settle(reason=CANCELLED_RESULT)
                await self._close_llm()

    async def _loop(
        self, prompt: str | None, images: Sequence[ImageLike]
    ) -> AsyncGenerator[RunEvent | RunStatus, None]:
        """The run itself; yields events, and run statuses for `events` to keep.

        ``prompt`` ``None`` continues the stored conversation as it is (a service saved the
        user message, or the client tool results, before the run started).
        """
        if self.cancel_requested:
            raise _Cancelled
        offered = tuple(self.deps.tools.definitions(self.agent.tools)) if self.agent.tools else ()
        user: ChatMessage | None = None
        if prompt is not None:
            if not prompt.strip() and not images:
                raise ConfigError("the prompt is empty; say what the agent should do")
            user = ChatMessage.user(
                prompt,
                images=tuple(ImageInput.from_reference(i) if isinstance(i, str) else i for i in images),
            )
        self.llm = self.deps.backends.for_agent(self.agent)
        self.messages = list(await self.deps.store.load(self.conversation_id))
        if user is None and not self.messages:
            raise ConfigError("the conversation is empty; send a message first")
        for message in _unanswered_tail(self.messages):
            await self._save(message)
            yield MessageAppended(message=message)
        if user is not None:
            await self._save(user)
            yield MessageAppended(message=user)

        yield RunStatus.MAX_TURNS
        for _ in range(self.deps.max_turns):
            if self.cancel_requested:
                raise _Cancelled
            self.turns += 1
            response: AIResponse | None = None
            async with contextlib.aclosing(self._model_turn(offered)) as stream:
                async for event in stream:
                    if isinstance(event, ResponseCompleted):
                        response = event.response
                    yield event
            assert response is not None  # _model_turn raises otherwise
            if response.tool_calls and response.finish_reason not in _FINISHED_NORMALLY:
                # A reply cut off (by the token limit, say) may hold a call whose arguments
                # are incomplete: it is never run. The run ends with the text so far and
                # the finish reason, which tells the caller what happened.
                response = attrs.evolve(response, tool_calls=())
            self.response = response
            self.usage = self.usage + response.usage
            assistant = response.to_message()
            await self._save(assistant)
            yield MessageAppended(message=assistant)
            if not response.tool_calls:
                yield RunStatus.COMPLETED
                return
            async with contextlib.aclosing(self._run_tools(response.tool_calls, offered)) as tool_events:
                async for tool_event in tool_events:
                    yield tool_event

    async def _model_turn(self, offered: Sequence[ToolDefinition]) -> AsyncGenerator[StreamEvent, None]:
        llm = self.llm
        assert llm is not None
        system = [ChatMessage.system(self.agent.system_prompt)] if self.agent.system_prompt.strip() else []
        request = (*system, *self.messages)
        if self.streaming:
            self.pump = asyncio.create_task(self._pump(lambda: llm.stream(request, tools=offered)))
        else:
            self.pump = asyncio.create_task(self._pump(lambda: _whole(llm.complete(request, tools=offered))))
        response: AIResponse | None = None
        while True:
            item = await self.inbox.get()
            if item is _CANCEL:
                raise _Cancelled
            if isinstance(item, _StreamEnd):
                pump, self.pump = self.pump, None
                if pump is not None:
                    await pump  # it is closing the stream; never raises (it reports through the inbox)
                if item.error is not None:
                    raise item.error
                if response is None:
                    raise StreamError(
                        f"the {llm.name} adapter ended its stream without a final response",
                        backend=llm.name,
                        model=llm.config.model,
                    )
                return
            if isinstance(item, _ToolDone):  # pragma: no cover - never in flight during a model turn
                continue
            if isinstance(item, ResponseCompleted):
                response = item.response
            yield item  # type: ignore[misc]

    async def _pump(self, open_stream: Callable[[], AsyncIterator[StreamEvent]]) -> None:
        """Moves the model's events into the inbox, so a cancel can overtake a slow stream."""
        stream: AsyncIterator[StreamEvent] | None = None
        try:
            stream = open_stream()
            async for event in stream:
                self.inbox.put_nowait(event)
        except Exception as exc:
            self.inbox.put_nowait(_StreamEnd(error=exc))
            return
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()  # closes the connection at once when we were cancelled
        self.inbox.put_nowait(_StreamEnd())

    async def _run_tools(
        self, calls: Sequence[ToolCall], offered: Sequence[ToolDefinition]
    ) -> AsyncGenerator[RunEvent, None]:
        self.unanswered = list(enumerate(calls))
        self.ready, self.reported = {}, set()
        for call in calls:
            yield ToolExecutionStarted(call=call)
        names = tuple(definition.name for definition in offered)
        limit = self.deps.max_tool_calls
        self.tool_tasks = [
            asyncio.create_task(self._run_tool(i, call, names)) for i, call in enumerate(calls[:limit])
        ]
        for i, call in enumerate(calls[limit:], start=limit):  # past the cap: answered, never run
            content = (
                f"Error: not run: this reply asked for {len(calls)} tool calls and at most {limit} "
                "run per reply. Ask again for the ones you still need, fewer at a time."
            )
            self.ready[i] = ToolResult(call_id=call.id, name=call.name, content=content, is_error=True)
            self.inbox.put_nowait(_ToolDone(index=i, result=self.ready[i]))
        on_client: set[int] = set()
        while self.unanswered:
            item = await self.inbox.get()
            if item is _CANCEL:
                raise _Cancelled
            if not isinstance(item, _ToolDone):  # pragma: no cover - the inbox only holds ours
                continue
            if item.result is None:
                on_client.add(item.index)
            else:
                self.reported.add(item.index)
                yield ToolExecutionFinished(result=item.result)
            # Results are saved in call order, each as soon as every earlier one is saved.
            while self.unanswered and self.unanswered[0][0] in self.reported:
                message = self.ready[self.unanswered[0][0]].to_message()
                await self._save(message)
                yield MessageAppended(message=message)
            if on_client and len(self.reported) + len(on_client) == len(calls):
                # Every server call is done: save their results, then pause for the client's.
                waiting = tuple(call for index, call in self.unanswered if index in on_client)
                done = [index for index, _ in self.unanswered if index not in on_client]
                self.unanswered = []
                for index in done:
                    message = self.ready[index].to_message()
                    await self._save(message)
                    yield MessageAppended(message=message)
                self.tool_tasks = []
                raise _Paused(waiting)
        self.tool_tasks = []

    async def _run_tool(self, index: int, call: ToolCall, offered: tuple[str, ...]) -> None:
        if call.name not in offered:
            available = ", ".join(offered)
            content = (
                f"Error: there is no tool named {call.name!r} here. Available tools: {available}."
                if offered
                else "Error: no tools are available in this conversation; answer without calling tools."
            )
            result = ToolResult(call_id=call.id, name=call.name, content=content, is_error=True)
        else:
            try:
                outcome = await self.deps.tools.run(call)
            except Exception as exc:  # the port says it never raises; a broken runner must not break the run
                detail = str(exc) or type(exc).__name__
                content = f"Error: running {call.name!r} failed: {detail}"
                result = ToolResult(call_id=call.id, name=call.name, content=content, is_error=True)
            else:
                if isinstance(outcome, ToolPending):  # a client runs it; the run pauses for it
                    self.inbox.put_nowait(_ToolDone(index=index, result=None))
                    return
                result = outcome
        if result.call_id != call.id:  # one id end to end, whatever the runner did
            result = attrs.evolve(result, call_id=call.id)
        self.ready[index] = result
        self.inbox.put_nowait(_ToolDone(index=index, result=result))

    async def _save(self, message: ChatMessage) -> None:
        await self.deps.store.append(self.conversation_id, message)
        self.messages.append(message)
        if message.role is Role.TOOL and self.unanswered and self.unanswered[0][1].id == message.tool_call_id:
            self.unanswered.pop(0)

    async def _settle(self, *, reason: str) -> list[RunEvent]:
        """Stop what is in flight and answer every unanswered call, so the store stays consistent."""
        events: list[RunEvent] = []
        in_flight = [task for task in (self.pump, *self.tool_tasks) if task is not None and not task.done()]
        for task in in_flight:
            task.cancel()
        for task in in_flight:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.pump, self.tool_tasks = None, []
        while self.unanswered:
            index, call = self.unanswered[0]
            result = self.ready.get(index)
            if result is None:
                result = ToolResult(call_id=call.id, name=call.name, content=reason, is_error=True)
            if index not in self.reported:
                self.reported.add(index)
                events.append(ToolExecutionFinished(result=result))
            message = result.to_message()
            try:
                await self._save(message)
            except Exception:
                self.unanswered.clear()  # the store is failing; nothing more can be saved
                break
            events.append(MessageAppended(message=message))
        return events

    async def _close_llm(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            with contextlib.suppress(Exception):
                await llm.aclose()


async def _whole(reply: Awaitable[AIResponse]) -> AsyncGenerator[StreamEvent, None]:
    """A non-streaming reply as the one event a stream ends with."""
    yield ResponseCompleted(response=await reply)


def _unexpected(exc: Exception) -> AgentError:
    """An `AgentError` for an exception nothing should have raised, chained to it."""
    detail = str(exc) or "no details"
    error = AgentError(
        f"the run failed unexpectedly: {type(exc).__name__}: {detail}; please report this as a bug"
    )
    error.__cause__ = exc
    return error


def _post(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[object], item: object) -> None:
    """Put ``item`` in ``inbox`` from any thread; a loop that already closed has nobody to tell."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(inbox.put_nowait, item)


def _unanswered_tail(history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Results for the calls a crashed run left unanswered at the end of the history."""
    for position in range(len(history) - 1, -1, -1):
        message = history[position]
        if message.role is Role.TOOL:
            continue
        if message.role is not Role.ASSISTANT or not message.tool_calls:
            return []
        answered = {m.tool_call_id for m in history[position + 1 :]}
        return [
            ChatMessage.tool(call, INTERRUPTED_RESULT, is_error=True)
            for call in message.tool_calls
            if call.id not in answered
        ]
    return []
