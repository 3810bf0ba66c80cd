"""`EventDecoder`: the bytes of one streamed Messages reply → our stream events.

A sync decoder (`adapters.llm._decoding.StreamDecoder`): the engine feeds it each network
read; it splits Anthropic's named server-sent events and hands each to the pure
`wire.AnthropicStreamState`. A JSON body answering a streamed request (a gateway ignoring
``"stream": true``, or an error under a 200) is replayed as Anthropic's events at the end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from adapters.llm._http import HeldError, is_json_body
from adapters.llm._limits import StreamLimits
from adapters.llm._sse import ServerSentEvent, SSEDecoder, scan_json
from adapters.llm.anthropic import wire
from domain.errors import LLMError, StreamError, TruncatedStreamError
from domain.events import ResponseCompleted, StreamEvent
from domain.messages import AIResponse

__all__ = ["EventDecoder", "annotate"]


def annotate(reply: AIResponse, headers: Mapping[str, str]) -> AIResponse:
    """Keep Anthropic's ``request-id`` header: support asks for it."""
    request_id = headers.get("request-id")
    if not request_id:
        return reply
    return attrs.evolve(reply, metadata={**reply.metadata, "request_id": request_id})


class EventDecoder:
    """Bytes of one streamed reply → our stream events (one instance per attempt)."""

    def __init__(self, tool_names: Mapping[str, str], limits: StreamLimits | None = None) -> None:
        self._state = wire.AnthropicStreamState(tool_names=tool_names)
        self._sse = SSEDecoder(limits=limits, backend=wire.BACKEND)
        self._headers: Mapping[str, str] = {}
        self._body: bytearray | None = None
        self._held = HeldError()

    def partial(self) -> AIResponse | None:
        return self._state.partial()

    def start(self, headers: Mapping[str, str]) -> None:
        self._headers = headers
        # A gateway that ignored "stream": true, or an error body under a 200: the whole
        # reply in one JSON object, collected and replayed as Anthropic's events at the end.
        self._body = bytearray() if is_json_body(headers) else None

    @property
    def done(self) -> bool:
        """``message_stop`` arrived: the reply is whole, whatever a proxy does with the socket."""
        return self._state.done or self._held.error is not None

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self._body is not None:
            self._body += data
            return []
        events: list[StreamEvent] = []
        try:
            for event in self._sse.feed(data):
                events += self._apply(event)
        except LLMError as error:
            self._held.hold(error, events)
        return events

    def close(self, cut: LLMError | None = None) -> list[StreamEvent]:
        self._held.release(cut)
        events: list[StreamEvent] = []
        if self._body is not None:
            events = self._whole_body(self._body.decode("utf-8", "replace"))
        elif not self._state.done:
            for event in self._sse.close():
                try:
                    events += self._apply(event)
                except TruncatedStreamError:
                    raise
                except StreamError as error:
                    if not self._sse.cut_mid_line:
                        raise
                    # The connection was cut inside this event: a truncation, not another format.
                    raise TruncatedStreamError(
                        "Anthropic's stream ended in the middle of a line, so the reply is incomplete; "
                        "what arrived is kept in the error — try again",
                        backend=wire.BACKEND,
                        model=self._state.model or None,
                        partial=self._state.partial(),
                    ) from error
        events.append(ResponseCompleted(response=annotate(self._state.finish(), self._headers)))
        return events

    def _whole_body(self, text: str) -> list[StreamEvent]:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, Mapping) and payload.get("type") == "error":
            raise wire.error_from_payload(payload, model=self._state.model or None)
        if not (isinstance(payload, Mapping) and payload.get("type") == "message"):
            raise StreamError(
                "Anthropic answered a streamed request with a JSON body that is not a message: "
                f"{text[:200]!r}",
                backend=wire.BACKEND,
            )
        reply = wire.parse_completion(payload)
        events: list[StreamEvent] = []
        for event in wire.render_stream(reply, fragment=max(1, len(text)), ping=False):
            events += self._state.feed(event)
        return events

    def _apply(self, event: ServerSentEvent) -> list[StreamEvent]:
        data = event.data
        try:
            payload, end = scan_json(data, 0)  # the C scanner straight away (see `scan_json`)
        except (ValueError, StopIteration):
            end = -1
        except RecursionError:
            raise self._too_deep(event) from None
        if end != len(data):
            return self._apply_slowly(event)
        return self._state.feed(payload, event=event.event)

    def _apply_slowly(self, event: ServerSentEvent) -> list[StreamEvent]:
        """Data around spaces, keep-alives, and what is not JSON."""
        if not event.data.strip():
            return []
        try:
            payload = json.loads(event.data)
        except RecursionError:
            raise self._too_deep(event) from None
        except ValueError as exc:
            raise StreamError(
                f"Anthropic sent a {event.event} event whose data is not JSON: {event.data[:120]!r}",
                backend=wire.BACKEND,
                model=self._state.model or None,
                partial=self._state.partial(),
            ) from exc
        return self._state.feed(payload, event=event.event)

    def _too_deep(self, event: ServerSentEvent) -> StreamError:
        return StreamError(
            f"Anthropic sent a {event.event} event whose JSON is nested too deeply to read; "
            "the server is broken or hostile",
            backend=wire.BACKEND,
            model=self._state.model or None,
            partial=self._state.partial(),
        )
