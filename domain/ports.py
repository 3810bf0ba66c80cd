"""The ports: what the application needs from the outside world, as `typing.Protocol`s.

Adapters do not inherit from these; the type checker checks that they conform and the
contract test suites check that they behave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from domain.events import StreamEvent
from domain.messages import AIResponse, ChatMessage, ToolCall, ToolDefinition, ToolPending, ToolResult
from domain.model_config import AIModel, Capabilities, ModelPullProgress, NormalizedModelConfig
from domain.service import (
    AgentRecord,
    ConversationRecord,
    ConversationStatus,
    Page,
    RunEnd,
    RunJob,
    RunStats,
    StoredEvent,
    ToolResultOutcome,
    User,
)

__all__ = [
    "AgentRepositoryPort",
    "ConversationRepositoryPort",
    "ConversationStorePort",
    "EventLogPort",
    "LLMPort",
    "ModelManagementPort",
    "RunHandler",
    "RunQueuePort",
    "ToolRunnerPort",
    "UserRepositoryPort",
]


@runtime_checkable
class LLMPort(Protocol):
    """A language model behind some backend, bound to a `NormalizedModelConfig`.

    Every failure surfaces as an `LLMError` subclass (or `ConfigError` for bad settings
    found before a request). Messages are sent in order; a system prompt, when wanted, is
    the first message.
    """

    name: str
    """The backend name this adapter was registered under (``huggingface``, ``fake``…)."""
    config: NormalizedModelConfig
    """The config every call uses unless a call passes its own."""

    def capabilities(self) -> Capabilities:
        """What this backend can do."""
        ...

    def with_config(self, config: NormalizedModelConfig) -> LLMPort:
        """A copy of this adapter bound to ``config``; the original is unchanged.

        The copy shares the original's connections, which belong to the original: closing the
        copy leaves them open, closing the original closes them for every copy, once.
        """
        ...

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AIResponse:
        """Send the conversation and return the whole reply."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the reply as events; the last one is always a `ResponseCompleted`.

        Closing the iterator early (``aclose``, ``break`` or task cancellation) closes the
        connection at once. A failure after deltas were yielded raises an `LLMError` whose
        ``partial`` holds what had arrived; it is never retried, so output is never repeated.
        """
        ...

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        """The models this backend offers."""
        ...

    def count_tokens(self, text: str) -> int:
        """An estimate of the tokens in ``text``."""
        ...

    def context_limit(self) -> int:
        """The context window of the bound model, in tokens."""
        ...

    async def aclose(self) -> None:
        """Release connections. The adapter must not be used afterwards."""
        ...


PullProgressCallback = Callable[[ModelPullProgress], None]


@runtime_checkable
class ModelManagementPort(Protocol):
    """Download, inspect and remove models on a self-hosted backend (Ollama)."""

    async def pull(self, model: str, *, on_progress: PullProgressCallback | None = None) -> None:
        """Download ``model``, reporting progress; raises `LLMError` when the pull fails."""
        ...

    async def delete(self, model: str) -> None:
        """Remove ``model``; `ModelNotFoundError` when there is no such model."""
        ...

    async def show(self, model: str) -> AIModel:
        """Details of one model; `ModelNotFoundError` when there is no such model."""
        ...

    async def running(self) -> Sequence[AIModel]:
        """The models loaded in memory now."""
        ...


@runtime_checkable
class ToolRunnerPort(Protocol):
    """Runs the tools an agent may use."""

    def definitions(self, names: Sequence[str] | None = None) -> Sequence[ToolDefinition]:
        """The definitions to offer the model: all tools, or those named (unknown names raise)."""
        ...

    async def run(self, call: ToolCall) -> ToolResult | ToolPending:
        """Run one call. Never raises for a tool's own failure: returns an error result instead.

        A `ToolPending` means the call runs elsewhere (a client tool): the run pauses for it.
        """
        ...


@runtime_checkable
class ConversationStorePort(Protocol):
    """Keeps every message of every conversation, in order."""

    async def append(self, conversation_id: str, message: ChatMessage) -> None:
        """Add ``message`` at the end of the conversation (creating it when new)."""
        ...

    async def load(self, conversation_id: str) -> Sequence[ChatMessage]:
        """Every message of the conversation, in order; empty for an unknown id."""
        ...

    async def list_conversations(self) -> Sequence[str]:
        """Ids of the stored conversations, oldest first."""
        ...

    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation; deleting an unknown id does nothing."""
        ...


# --- The service's ports -------------------------------------------------------------------
# Every method of a repository is scoped by ``owner_id``: another owner's record is reported
# exactly as a missing one (``None`` / ``False``), so the HTTP layer answers 404 for both.


@runtime_checkable
class UserRepositoryPort(Protocol):
    """Users and their API tokens. Only hashes of passwords and tokens are stored."""

    async def create_user(self, *, name: str, email: str, password_hash: str | None) -> User:
        """A new user; `DuplicateError` when ``email`` (compared case-insensitively) is taken."""
        ...

    async def user_by_email(self, email: str) -> tuple[User, str | None] | None:
        """The user with that email (case-insensitive) and their password hash, or ``None``."""
        ...

    async def add_token(self, *, user_id: str, token_hash: str, name: str = "") -> None:
        """Remember a token (by its hash) that authenticates ``user_id``."""
        ...

    async def user_by_token(self, token_hash: str) -> User | None:
        """The user a live token belongs to, or ``None`` (unknown or revoked)."""
        ...

    async def revoke_token(self, token_hash: str) -> None:
        """Forget the token; unknown hashes are ignored."""
        ...


@runtime_checkable
class AgentRepositoryPort(Protocol):
    """Agents, per owner."""

    async def add(self, agent: AgentRecord) -> AgentRecord: ...

    async def get(self, owner_id: str, agent_id: str) -> AgentRecord | None: ...

    async def list(self, owner_id: str, *, page: int, per_page: int) -> Page:
        """The owner's agents, oldest first; ``page`` counts from 1."""
        ...

    async def update(self, agent: AgentRecord) -> AgentRecord:
        """Replace the stored agent (same id and owner); returns it as stored."""
        ...

    async def delete(self, owner_id: str, agent_id: str) -> bool:
        """Remove the agent and its conversations; ``False`` when there was none."""
        ...


@runtime_checkable
class ConversationRepositoryPort(Protocol):
    """Conversations' records (their messages live in a `ConversationStorePort`)."""

    async def add(self, conversation: ConversationRecord) -> ConversationRecord: ...

    async def get(self, owner_id: str, conversation_id: str) -> ConversationRecord | None: ...

    async def get_any(self, conversation_id: str) -> ConversationRecord | None:
        """The record whoever owns it: for workers, which act for the owner named in the job."""
        ...

    async def list(
        self,
        owner_id: str,
        *,
        agent_id: str | None = None,
        status: ConversationStatus | None = None,
        page: int,
        per_page: int,
    ) -> Page:
        """The owner's conversations, newest first."""
        ...

    async def update(self, conversation: ConversationRecord) -> ConversationRecord:
        """Replace the stored record (same id and owner); returns it as stored."""
        ...

    async def claim(self, conversation_id: str, run_id: str) -> bool:
        """Atomically mark the conversation ``processing`` for ``run_id``.

        ``False`` (and nothing changed) when a run already owns it (status ``processing``
        or ``waiting_for_tool``). This is the database-level guard: two concurrent claims
        never both succeed.
        """
        ...

    async def record_tool_result(
        self, conversation_id: str, call_id: str, result: Mapping[str, Any], *, resume_run_id: str
    ) -> ToolResultOutcome:
        """Atomically record ``result`` for the pending client tool call ``call_id``.

        Nothing changes unless the conversation waits for tool results, ``call_id`` is one of its
        pending calls and that call has no result yet (the outcome's status says which check
        failed). When this result answers the last pending call, the same atomic write moves the
        conversation to ``processing`` under ``resume_run_id`` (pending calls and results
        cleared) and the outcome says ``resumed``: across processes, each call is recorded once
        and exactly one result resumes the run; a concurrent `end_run` (a stop) and this resume
        never both win.
        """
        ...

    async def end_run(
        self,
        conversation_id: str,
        run_id: str | None,
        *,
        status: ConversationStatus,
        stats: RunStats,
        error: str | None = None,
        pending: tuple[ToolCall, ...] = (),
    ) -> RunEnd | None:
        """Atomically record that run ``run_id`` ended (or paused, ``waiting_for_tool`` with
        ``pending`` calls): only while that run still owns the conversation (status
        ``processing`` or ``waiting_for_tool`` with this run id), adding ``stats`` to the totals
        and clearing the tool results. ``None`` (nothing changed) when it no longer owns it."""
        ...

    async def add_stats(self, conversation_id: str, stats: RunStats) -> None:
        """Add ``stats`` to the conversation's running totals."""
        ...

    async def delete(self, owner_id: str, conversation_id: str) -> bool:
        """Remove the record; ``False`` when there was none.

        An adapter that also holds the messages and events (the SQL one) removes them in the
        same transaction; the use case still asks the store and the event log to forget the
        conversation, since they may live elsewhere (events in front of Redis Streams).
        """
        ...

    async def fail_interrupted(self, error: str) -> tuple[ConversationRecord, ...]:
        """Mark every ``processing`` conversation ``failed`` with ``error``; those conversations, as
        now stored."""
        ...


@runtime_checkable
class EventLogPort(Protocol):
    """The events of every conversation's runs, in order, for any number of listeners.

    Ids increase by one per conversation from 1, across runs, and are never reused.
    """

    async def append(self, conversation_id: str, type: str, data: Mapping[str, Any]) -> StoredEvent:
        """Add an event at the end of the conversation's log; returns it with its id."""
        ...

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The events with an id greater than ``after``, in order (at most ``limit``)."""
        ...

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> Sequence[StoredEvent]:
        """Like `read`, but when there is nothing after ``after`` wait up to ``max_wait`` seconds
        for new events; returns an empty sequence when none came."""
        ...

    async def delete(self, conversation_id: str) -> None:
        """Forget the conversation's events."""
        ...


RunHandler = Callable[[RunJob], Awaitable[None]]
"""Executes one run job to its end; task cancellation stops it (and it then records the
cancellation itself before re-raising)."""


@runtime_checkable
class RunQueuePort(Protocol):
    """Where runs are sent to be executed, in this process or on workers elsewhere."""

    async def submit(self, job: RunJob) -> None:
        """Queue the job; `QueueUnavailableError` when it cannot be accepted now."""
        ...

    async def cancel(self, conversation_id: str) -> bool:
        """Stop the run of that conversation wherever it executes (its task is cancelled, so the
        model stream in flight is closed). ``True`` when a running or queued run was found
        here; adapters spanning processes may answer ``True`` having only broadcast it."""
        ...

    async def aclose(self) -> None:
        """Stop accepting jobs and cancel the runs in flight, waiting for them to end."""
        ...
