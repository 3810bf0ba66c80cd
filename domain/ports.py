"""The ports: what the application needs from the outside world, as `typing.Protocol`s.

Adapters do not inherit from these; the type checker checks that they conform and the
contract test suites check that they behave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from domain.events import StreamEvent
from domain.messages import AIResponse, ChatMessage, ToolCall, ToolDefinition, ToolResult
from domain.model_config import AIModel, Capabilities, ModelPullProgress, NormalizedModelConfig

__all__ = [
    "ConversationStorePort",
    "LLMPort",
    "ModelManagementPort",
    "ToolRunnerPort",
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
        """A copy of this adapter bound to ``config``; the original is unchanged."""
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

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call. Never raises for a tool's own failure: returns an error result instead."""
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
