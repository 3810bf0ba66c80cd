"""`ChatAdapter` and `HTTPChatAdapter`: the part of `domain.ports.LLMPort` every adapter here shares.

The port is a Protocol (adapters do not inherit from it, STYLE §4); what several adapters do
alike lives in these base classes instead of being written again in each: the port's method
signatures (``complete`` and ``stream`` resolve nothing themselves and hand the call to the
adapter's ``_complete`` / ``_stream``), ``capabilities``, the token estimate and the context
window from the driver profile; for the HTTP adapters also ``with_config`` (the same
connection pool, owned by the original) and ``aclose``.

``stream`` returns the adapter's ``_stream`` generator itself, so the base adds no async frame
between the socket and the caller.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from adapters.llm._decoding import shared_copy
from domain.messages import AIResponse, ChatMessage, ToolDefinition
from domain.model_config import Capabilities, DriverProfile, NormalizedModelConfig

if TYPE_CHECKING:
    from adapters.llm._http import HTTPEngine
    from domain.events import StreamEvent

__all__ = ["CallConfig", "ChatAdapter", "HTTPChatAdapter", "Messages", "Tools"]

Messages = Sequence[ChatMessage]
"""The conversation a call sends."""
Tools = Sequence[ToolDefinition]
"""The tools a call offers."""
CallConfig = NormalizedModelConfig | None
"""A call's own config, as the caller gave it; ``None`` means the adapter's bound one."""


class ChatAdapter(abc.ABC):
    """The port's surface, over an adapter's ``_complete`` and ``_stream``.

    Subclasses set ``capabilities_flags`` and ``profile`` (and ``context_default`` for a
    backend whose unknown models have a known window), and a ``config`` attribute.
    """

    capabilities_flags: ClassVar[Capabilities]
    """What the backend can do, known without building an adapter (``cw backends`` shows it)."""
    profile: ClassVar[DriverProfile]
    """The driver's profile; its model-limits table answers `context_limit`."""
    context_default: ClassVar[int] = 0
    """The window of a model the table does not know; 0 means the profile's default."""

    config: NormalizedModelConfig

    @abc.abstractmethod
    async def _complete(self, messages: Messages, tools: Tools, config: CallConfig) -> AIResponse:
        """`complete`, with ``config`` as the caller gave it (``None``: the bound one)."""

    @abc.abstractmethod
    def _stream(self, messages: Messages, tools: Tools, config: CallConfig) -> AsyncIterator[StreamEvent]:
        """`stream`, with ``config`` as the caller gave it (``None``: the bound one)."""

    def capabilities(self) -> Capabilities:
        """What this backend offers (the class's ``capabilities_flags``)."""
        return self.capabilities_flags

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AIResponse:
        """Send the conversation and return the whole reply; see `domain.ports.LLMPort`."""
        return await self._complete(messages, tools, config)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        config: NormalizedModelConfig | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the reply as it streams, ending with a `ResponseCompleted`; see `domain.ports.LLMPort`.

        After a delta was yielded, a failure carries ``partial``.
        """
        return self._stream(messages, tools, config)

    def count_tokens(self, text: str) -> int:
        """A rough estimate: one token per four characters."""
        return math.ceil(len(text) / 4)

    def context_limit(self) -> int:
        """The bound config's ``context_length``, else the model-limits table, else the default."""
        return self.profile.context_limit(
            self.config.model, self.config.context_length, default=self.context_default
        )


class HTTPChatAdapter(ChatAdapter):
    """A `ChatAdapter` over an `HTTPEngine` whose connection pool the original adapter owns.

    Subclasses set ``_engine`` and ``_owns_pool = True`` when they open the engine, and give
    `_engine_for` (the engine for one call's config, on the same pool).
    """

    _engine: HTTPEngine
    _owns_pool: bool

    @abc.abstractmethod
    def _engine_for(self, config: NormalizedModelConfig) -> HTTPEngine:
        """The engine for a call bound to ``config``: this adapter's pool, that call's clocks."""

    def with_config(self, config: NormalizedModelConfig) -> Self:
        """A copy bound to ``config`` sharing this adapter's connection pool, which this one closes."""
        clone = shared_copy(self, config)
        clone._engine = self._engine_for(config)
        return clone

    async def aclose(self) -> None:
        """Close the connection pool, when this adapter owns it (not a `with_config` copy)."""
        if self._owns_pool:
            await self._engine.aclose()
            await self._close_owned()

    async def _close_owned(self) -> None:
        """Close what else the original adapter owns (after its pool); nothing by default."""
