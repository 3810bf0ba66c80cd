"""`ChatStreamDecoder`: the SSE bytes of one streamed chat completion → stream events.

A sync decoder (`adapters.llm._decoding.StreamDecoder`): the engine feeds it each network
read; it splits server-sent events (`SSEDecoder`), parses each ``data:`` JSON once with the C
scanner and hands it to the pure `wire.StreamState`. A JSON body answering a streamed request
(``"stream": true`` ignored, or an error under a 200) is collected and read whole at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from adapters.llm._http import HeldError, is_json_body
from adapters.llm._limits import StreamLimits
from adapters.llm._sse import ServerSentEvent, SSEDecoder, scan_json
from adapters.llm.openai_compatible import wire
from domain.errors import LLMError, StreamError, TruncatedStreamError
from domain.events import ResponseCompleted, StreamEvent
from domain.messages import AIResponse

__all__ = ["ChatStreamDecoder"]

_E = TypeVar("_E", bound=StreamError)


class ChatStreamDecoder:
    """SSE bytes of one streamed chat completion → stream events (one per attempt)."""

    __slots__ = (
        "_backend",
        "_body",
        "_held",
        "_metadata",
        "_metadata_of",
        "_model",
        "_sse",
        "_state",
        "done",
    )

    def __init__(
        self,
        *,
        backend: str,
        model: str,
        tool_names: Mapping[str, str] | None,
        prompt_chars: int,
        metadata_of: Callable[[Mapping[str, str]], dict[str, Any]],
        advice: Mapping[int, str] | None = None,
        limits: StreamLimits | None = None,
    ) -> None:
        self._backend = backend
        self._sse = SSEDecoder(limits=limits, backend=backend)
        self._body: bytearray | None = None
        self._held = HeldError()
        self._model = model
        self._state = wire.StreamState(
            backend=backend, model=model, tool_names=tool_names, prompt_chars=prompt_chars, advice=advice
        )
        self._metadata_of = metadata_of
        self._metadata: dict[str, Any] = {}
        self.done = False  # `[DONE]` arrived or an error is held: the engine reads no further

    def partial(self) -> AIResponse | None:
        partial = self._state.partial()
        return attrs.evolve(partial, metadata={**partial.metadata, **self._metadata})

    def _error(self, kind: type[_E], message: str) -> _E:
        """A stream error of ``kind`` saying ``message``, with what arrived kept as its partial."""
        return kind(
            f"{self._backend}: {message}",
            backend=self._backend,
            model=self._model,
            provider=self._state.provider,
            partial=self.partial(),
        )

    def _not_json(self, data: str) -> StreamError:
        return self._error(
            StreamError,
            f"the stream sent a data line that is not JSON: {data[:200]!r}; "
            "the server may not speak the OpenAI chat-completions stream format",
        )

    def _too_deep(self) -> StreamError:
        return self._error(
            StreamError, "the stream sent JSON nested too deeply to read; the server is broken or hostile"
        )

    def _cut(self) -> TruncatedStreamError:
        return self._error(
            TruncatedStreamError,
            "the stream ended in the middle of a line, so the reply is incomplete; "
            "what arrived is kept in the error — try again",
        )

    def _handle(self, event: ServerSentEvent) -> list[StreamEvent]:
        """The events one SSE event carries; sets ``done`` on ``[DONE]``."""
        data = event.data
        if data == "[DONE]":
            self.done = True
            return self._state.mark_done()
        # The C scanner straight away: json.loads adds two frames and two regex passes per
        # chunk. Data it does not consume whole takes the careful path.
        try:
            payload, end = scan_json(data, 0)
        except (ValueError, StopIteration):
            end = -1
        except RecursionError:
            raise self._too_deep() from None
        if end != len(data):
            return self._handle_slowly(event, data)
        return self._dispatch(event, payload, data)

    def _handle_slowly(self, event: ServerSentEvent, data: str) -> list[StreamEvent]:
        """Data around spaces, ``[DONE]`` variants, keep-alives, and what is not JSON."""
        stripped = data.strip()
        if stripped == "[DONE]":
            self.done = True
            return self._state.mark_done()
        if not stripped:
            return []  # an empty keep-alive
        try:
            payload = json.loads(stripped)
        except RecursionError:
            raise self._too_deep() from None
        except ValueError:
            if event.event != "error":
                raise self._not_json(data) from None
            payload = {"error": stripped}
        return self._dispatch(event, payload, data)

    def _dispatch(self, event: ServerSentEvent, payload: Any, data: str) -> list[StreamEvent]:
        if not isinstance(payload, dict):
            raise self._not_json(data)
        if event.event == "error" and "error" not in payload:
            payload = {"error": payload}
        return self._state.feed(payload)  # raises the typed error for an {"error": …} payload

    def _whole_body(self, text: str) -> list[StreamEvent]:
        try:
            payload = json.loads(text)
        except RecursionError:
            raise self._too_deep() from None
        except ValueError:
            raise self._not_json(text) from None
        if not isinstance(payload, dict):
            raise self._not_json(text)
        events = self._state.feed(payload)  # {"message": …} reads like one big delta
        if not payload.get("choices") and not self._state.has_output:
            raise StreamError(
                f"{self._backend}: the server answered a streamed request with a JSON body that is "
                f"not a completion: {text[:200]!r}",
                backend=self._backend,
                model=self._model,
                provider=self._state.provider,
            )
        return events + self._state.mark_done()

    def start(self, headers: Mapping[str, str]) -> None:
        self._metadata = self._metadata_of(headers)
        provider = self._metadata.get("provider")
        self._state.provider = provider if isinstance(provider, str) else None
        # A server that ignored "stream": true (or refused with a JSON error body under a
        # 200) sends the whole reply as one JSON object: collected, read at the end.
        self._body = bytearray() if is_json_body(headers) else None

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self._body is not None:
            self._body += data
            return []
        events: list[StreamEvent] = []
        handle = self._handle
        try:
            batch = self._sse.feed(data)
            if len(batch) == 1:
                return handle(batch[0])  # the usual read: one event, its list as it is
            for event in batch:
                events += handle(event)
                if self.done:
                    break
        except LLMError as error:
            self._held.hold(error, events)
            self.done = True  # the engine reads no further; `close` raises the error
        return events

    def close(self, cut: LLMError | None = None) -> list[StreamEvent]:
        self._held.release()
        if self._body is not None:
            if cut is not None:
                raise cut
            whole = self._whole_body(self._body.decode("utf-8", "replace"))
            return [*whole, ResponseCompleted(response=self._state.finish(metadata=self._metadata))]
        events: list[StreamEvent] = []
        if cut is not None:
            # The connection dropped, or went quiet, while we waited for the usage chunk or
            # [DONE] after the model had said it finished: the reply is whole, keep it.
            if not self._state.done:
                raise cut
        elif not self.done:
            for event in self._sse.close():
                try:
                    items = self._handle(event)
                except TruncatedStreamError:
                    raise
                except StreamError as error:
                    if self._sse.cut_mid_line:  # the connection was cut inside this event
                        raise self._cut() from error
                    raise
                events += items
                if self.done:
                    break
        if not self._state.done:
            raise self._error(
                TruncatedStreamError,
                "the stream ended before the model finished (no finish reason "
                "and no [DONE]); what arrived is kept in the error — try again",
            )
        events.append(ResponseCompleted(response=self._state.finish(metadata=self._metadata)))
        return events
