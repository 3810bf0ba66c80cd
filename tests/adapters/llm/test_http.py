"""The HTTP engine: retries, back-off, Retry-After, the three clocks, error mapping, cancellation.

The engine is exercised with a tiny line-based `StreamDecoder` (one event per line, ``END``
marks a complete reply) so these tests depend on nothing but the engine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._http import Clocks, HeldError, HTTPEngine, RetryPolicy, build_client, map_http_errors
from adapters.llm.testing.scripted_server import ScriptedResponse, ScriptedServer
from domain.errors import (
    AuthenticationError,
    ConfigError,
    LLMError,
    LLMTimeoutError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
    UnreachableError,
)
from domain.messages import AIResponse

pytestmark = pytest.mark.anyio


class LineDecoder:
    """One event per line; a reply is complete when its last line is ``END``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer = b""
        self.done = False
        self.held = HeldError()

    def start(self, headers: Mapping[str, str]) -> None:
        pass

    def feed(self, data: bytes) -> list[str]:
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        events: list[str] = []
        for raw in complete:
            line = raw.decode()
            if line == "OVERLOADED":
                self.held.hold(OverloadedError("overloaded in the stream", backend="test"), events)
                self.done = True
                break
            if line == "END":
                self.done = True
                break
            self.lines.append(line)
            events.append(line)
        return events

    def close(self, cut: LLMError | None = None) -> list[str]:
        self.held.release()
        if cut is not None:
            raise cut
        if not self.done:
            raise TruncatedStreamError("no END", backend="test")
        return []

    def partial(self) -> AIResponse | None:
        return AIResponse(content="".join(self.lines))


class Sleeps:
    """An injected sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def engine_for(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    retry: RetryPolicy | None = None,
    clocks: Clocks | None = None,
    sleeps: Sleeps | None = None,
) -> HTTPEngine:
    clocks = clocks or Clocks()
    return HTTPEngine(
        backend="test",
        client=build_client(
            base_url="http://llm.test", clocks=clocks, transport=httpx.MockTransport(handler)
        ),
        clocks=clocks,
        retry=retry or RetryPolicy(),
        sleep=sleeps or Sleeps(),
        rand=lambda: 0.5,
    )


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


async def collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


async def drain(iterator: AsyncIterator[str], into: list[str], *, pause: float = 0.0) -> None:
    """Consume a stream into ``into``, like a caller rendering events as they come."""
    async for item in iterator:
        into.append(item)
        if pause:
            await asyncio.sleep(pause)


# --- policy ------------------------------------------------------------------------------------


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(1, lambda: 0.25) == 0.25


def test_clocks_and_policy_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="idle"):
        Clocks(idle=0)
    with pytest.raises(ValueError, match="total"):
        Clocks(total=-1)
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


def test_client_read_timeout_is_the_idle_clock() -> None:
    client = build_client(base_url="http://x", clocks=Clocks(connect=3, idle=7, total=None))
    assert client.timeout.connect == 3
    assert client.timeout.read == 7


# --- non-streaming requests --------------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    handler, seen = scripted(
        httpx.Response(500, json={"error": "boom"}),
        httpx.Response(502, json={"error": "bad gateway"}),
        httpx.Response(200, json={"ok": True}),
    )
    sleeps = Sleeps()
    engine = engine_for(handler, sleeps=sleeps)
    payload, response = await engine.request_json("POST", "/x", json={"a": 1})
    assert payload == {"ok": True}
    assert response.status_code == 200
    assert len(seen) == 3
    assert sleeps.delays == [0.25, 0.5]  # rand 0.5 x ceilings 0.5, 1.0


async def test_retry_after_is_honoured() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": "slow down"}),
        httpx.Response(200, json={}),
    )
    sleeps = Sleeps()
    await engine_for(handler, sleeps=sleeps).request("GET", "/x")
    assert sleeps.delays == [2.0]
    assert len(seen) == 2


async def test_retry_after_longer_than_the_cap_is_raised_at_once() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"retry-after": "3600"}, json={"error": "quota"}))
    sleeps = Sleeps()
    engine = engine_for(handler, sleeps=sleeps, retry=RetryPolicy(max_retry_after=60))
    with pytest.raises(RateLimitError) as caught:
        await engine.request("GET", "/x")
    assert caught.value.retry_after == 3600
    assert caught.value.status == 429
    assert len(seen) == 1
    assert sleeps.delays == []


async def test_retry_after_beyond_the_total_deadline_is_raised_instead_of_waiting() -> None:
    handler, seen = scripted(httpx.Response(503, headers={"retry-after": "30"}, json={"error": "busy"}))
    sleeps = Sleeps()
    engine = engine_for(handler, sleeps=sleeps, clocks=Clocks(total=5))
    with pytest.raises(ProviderError):
        await engine.request("GET", "/x")
    assert sleeps.delays == []
    assert len(seen) == 1


async def test_client_errors_are_not_retried() -> None:
    handler, seen = scripted(httpx.Response(401, json={"error": "Invalid credentials"}))
    with pytest.raises(AuthenticationError) as caught:
        await engine_for(handler).request("GET", "/x", model="m")
    assert caught.value.status == 401
    assert caught.value.backend == "test"
    assert len(seen) == 1


async def test_retries_stop_after_max_retries_with_the_last_error() -> None:
    handler, seen = scripted(*(httpx.Response(503, json={"error": f"busy {n}"}) for n in range(3)))
    with pytest.raises(OverloadedError, match="busy 2"):
        await engine_for(handler, retry=RetryPolicy(max_retries=2)).request("GET", "/x")
    assert len(seen) == 3


async def test_connection_refused_is_unreachable_and_retried() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    await engine_for(handler).request("GET", "/x")
    assert len(seen) == 2

    handler, seen = scripted(*(httpx.ConnectError("refused") for _ in range(2)))
    with pytest.raises(UnreachableError, match=r"llm\.test.*base URL") as caught:
        await engine_for(handler, retry=RetryPolicy(max_retries=1)).request("GET", "/x")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_connect_timeout_is_retried_but_read_timeout_is_not() -> None:
    handler, seen = scripted(httpx.ConnectTimeout("slow"), httpx.Response(200, json={}))
    await engine_for(handler).request("GET", "/x")
    assert len(seen) == 2

    handler, seen = scripted(httpx.ReadTimeout("silence"), httpx.Response(200, json={}))
    with pytest.raises(LLMTimeoutError) as caught:
        # without a deadline, the idle clock is what bounds a non-streaming read
        await engine_for(handler, clocks=Clocks(idle=7, total=None)).request("GET", "/x")
    assert caught.value.kind == "idle"
    assert caught.value.seconds == 7
    assert len(seen) == 1


async def test_zero_retries_means_one_attempt() -> None:
    handler, seen = scripted(httpx.Response(500, json={"error": "x"}))
    with pytest.raises(ProviderError):
        await engine_for(handler, retry=RetryPolicy(max_retries=0)).request("GET", "/x")
    assert len(seen) == 1


async def test_a_body_that_is_not_json_is_a_stream_error() -> None:
    handler, _ = scripted(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(StreamError, match="not JSON"):
        await engine_for(handler).request_json("GET", "/x")


def test_bad_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"), map_http_errors("test"):
        raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'.")


async def test_total_deadline_covers_a_slow_non_streaming_call() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/slow", ScriptedResponse(chunks=(b"{", b"}"), delay=0.5))
        clocks = Clocks(total=0.2)
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        with pytest.raises(LLMTimeoutError) as caught:
            await engine.request("GET", "/slow")
        await engine.aclose()
    assert caught.value.kind == "total"
    assert caught.value.seconds == 0.2


async def test_a_non_streaming_reply_slower_than_the_idle_clock_is_bounded_by_the_deadline() -> None:
    # A server composes a non-streamed answer before it sends anything: no chunks to be idle
    # between, so only the total deadline bounds the wait.
    async with ScriptedServer() as server:
        server.enqueue("/slow", ScriptedResponse(chunks=(b'{"ok": true}',), delay=0.5))
        clocks = Clocks(idle=0.2, total=5)
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        payload, _ = await engine.request_json("GET", "/slow")
        await engine.aclose()
    assert payload == {"ok": True}


# --- streams -----------------------------------------------------------------------------------


async def test_stream_yields_decoded_events() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"a\nb\nEND\n"))
    events = await collect(engine_for(handler).stream("POST", "/s", decoder=LineDecoder))
    assert events == ["a", "b"]


async def test_stream_failure_before_the_first_event_is_retried() -> None:
    handler, seen = scripted(
        httpx.Response(503, json={"error": "overloaded"}),
        httpx.Response(200, content=b"OVERLOADED\n"),
        httpx.Response(200, content=b"x\nEND\n"),
    )
    sleeps = Sleeps()
    events = await collect(engine_for(handler, sleeps=sleeps).stream("POST", "/s", decoder=LineDecoder))
    assert events == ["x"]
    assert len(seen) == 3
    assert len(sleeps.delays) == 2


async def test_stream_failure_after_an_event_keeps_the_partial_and_is_not_retried() -> None:
    handler, seen = scripted(
        httpx.Response(200, content=b"hello \nworld\nOVERLOADED\n"),
        httpx.Response(200, content=b"never\nEND\n"),
    )
    received: list[str] = []
    with pytest.raises(OverloadedError) as caught:
        await drain(engine_for(handler).stream("POST", "/s", decoder=LineDecoder), received)
    assert received == ["hello ", "world"]
    assert caught.value.partial == AIResponse(content="hello world")
    assert len(seen) == 1


async def test_a_connection_dropped_mid_body_is_a_truncated_stream_with_partial() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=(b"one\n", b"two\n", b"END\n"), drop_after=2))
        clocks = Clocks()
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        received: list[str] = []
        with pytest.raises(TruncatedStreamError) as caught:
            await drain(engine.stream("POST", "/s", decoder=LineDecoder), received)
        await engine.aclose()
    assert received == ["one", "two"]
    assert caught.value.partial == AIResponse(content="onetwo")
    assert len(server.requests) == 1


async def test_a_connection_dropped_before_the_first_event_is_retried() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=(b"par",), drop_after=1))
        server.enqueue("/s", ScriptedResponse(chunks=(b"one\n", b"END\n")))
        clocks = Clocks()
        sleeps = Sleeps()
        engine = HTTPEngine(
            backend="test",
            client=build_client(base_url=server.url, clocks=clocks),
            clocks=clocks,
            sleep=sleeps,
            rand=lambda: 0.5,
        )
        received: list[str] = []
        await drain(engine.stream("POST", "/s", decoder=LineDecoder), received)
        await engine.aclose()
    assert received == ["one"]  # nothing of the dropped attempt, nothing twice
    assert len(server.requests) == 2
    assert len(sleeps.delays) == 1


async def test_idle_timeout_on_a_stalled_stream() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=(b"first\n", b"END\n"), stall_after=1))
        clocks = Clocks(idle=0.2, total=10)
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        received: list[str] = []
        with pytest.raises(LLMTimeoutError) as caught:
            await drain(engine.stream("POST", "/s", decoder=LineDecoder), received)
        await engine.aclose()
    assert received == ["first"]
    assert caught.value.kind == "idle"
    assert caught.value.partial == AIResponse(content="first")


async def test_the_engine_clocks_govern_each_request_not_the_client_defaults() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=(b"first\n", b"END\n"), stall_after=1))
        engine = HTTPEngine(
            backend="test",
            client=build_client(base_url=server.url, clocks=Clocks(idle=60)),
            clocks=Clocks(idle=0.2, total=10),
        )
        with pytest.raises(LLMTimeoutError) as caught:
            await collect(engine.stream("POST", "/s", decoder=LineDecoder))
        await engine.aclose()
    assert caught.value.kind == "idle"
    assert caught.value.seconds == 0.2


async def test_total_deadline_cuts_a_stream_that_keeps_trickling() -> None:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=tuple(b"tick\n" for _ in range(50)), delay=0.05))
        clocks = Clocks(idle=5, total=0.4)
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        received: list[str] = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LLMTimeoutError) as caught:
            await drain(engine.stream("POST", "/s", decoder=LineDecoder), received)
        elapsed = loop.time() - started
        await engine.aclose()
    assert caught.value.kind == "total"
    assert 0 < len(received) < 50
    assert caught.value.partial == AIResponse(content="tick" * len(received))
    assert elapsed < 2


async def test_a_slow_caller_gets_a_typed_total_timeout_never_a_cancellation() -> None:
    # The caller is slow, the server is fast: the deadline is enforced in the engine, never
    # by cancelling the caller's own code, and it surfaces as a typed timeout.
    async def body() -> AsyncIterator[bytes]:
        for line in (b"a\n", b"b\n", b"c\n", b"END\n"):
            yield line

    handler, _ = scripted(httpx.Response(200, content=body()))
    engine = engine_for(handler, clocks=Clocks(total=0.15))
    received: list[str] = []
    with pytest.raises(LLMTimeoutError) as caught:
        await drain(engine.stream("POST", "/s", decoder=LineDecoder), received, pause=0.1)
    assert caught.value.kind == "total"
    assert received == ["a", "b"]
    assert caught.value.partial == AIResponse(content="ab")


# --- cancellation ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def endless_stream() -> AsyncIterator[tuple[ScriptedServer, HTTPEngine]]:
    async with ScriptedServer() as server:
        server.enqueue("/s", ScriptedResponse(chunks=(b"first\n", b"second\n"), stall_after=2))
        clocks = Clocks(idle=30, total=None)
        engine = HTTPEngine(
            backend="test", client=build_client(base_url=server.url, clocks=clocks), clocks=clocks
        )
        try:
            yield server, engine
        finally:
            await engine.aclose()


async def test_aclose_closes_the_connection_at_once() -> None:
    async with endless_stream() as (server, engine):
        stream = engine.stream("POST", "/s", decoder=LineDecoder)
        assert await stream.__anext__() == "first"
        await stream.aclose()
        await asyncio.wait_for(server.requests[0].disconnected.wait(), 2)


async def test_break_closes_the_connection() -> None:
    async with endless_stream() as (server, engine):
        async for _event in engine.stream("POST", "/s", decoder=LineDecoder):
            break
        gc.collect()  # the generator is unreachable now; asyncio closes it
        await asyncio.wait_for(server.requests[0].disconnected.wait(), 2)


async def test_cancelling_the_task_closes_the_connection() -> None:
    async with endless_stream() as (server, engine):
        got_first = asyncio.Event()

        async def consume() -> None:
            async for _event in engine.stream("POST", "/s", decoder=LineDecoder):
                got_first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_first.wait(), 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.requests[0].disconnected.wait(), 2)


# --- properties --------------------------------------------------------------------------------

RETRYABLE = st.sampled_from([429, 500, 502, 503, 504])


@given(failures=st.lists(RETRYABLE, max_size=5), max_retries=st.integers(0, 4), jitter=st.floats(0, 0.999))
def test_any_run_of_retryable_failures_is_retried_exactly_up_to_the_policy(
    failures: list[int], max_retries: int, jitter: float
) -> None:
    responses = [httpx.Response(status, json={"error": "try later"}) for status in failures]
    handler, seen = scripted(*responses, httpx.Response(200, json={"ok": True}))
    sleeps = Sleeps()
    policy = RetryPolicy(max_retries=max_retries, base_delay=0.5, max_delay=2.0)
    engine = HTTPEngine(
        backend="test",
        client=build_client(
            base_url="http://llm.test", clocks=Clocks(), transport=httpx.MockTransport(handler)
        ),
        retry=policy,
        sleep=sleeps,
        rand=lambda: jitter,
    )

    async def call() -> bool:
        try:
            await engine.request("GET", "/x")
        except (RateLimitError, ProviderError):
            return False
        return True

    succeeded = asyncio.run(call())
    assert succeeded == (len(failures) <= max_retries)
    assert len(seen) == min(len(failures), max_retries) + 1
    assert len(sleeps.delays) == len(seen) - 1
    for attempt, delay in enumerate(sleeps.delays):
        assert 0 <= delay <= min(policy.max_delay, policy.base_delay * 2**attempt)


@given(
    lines=st.lists(st.text(alphabet="abcxyz ", min_size=1, max_size=8), min_size=1, max_size=12),
    data=st.data(),
)
def test_a_failure_after_any_number_of_events_keeps_exactly_what_was_shown(
    lines: list[str], data: st.DataObject
) -> None:
    shown_before_failure = data.draw(st.integers(1, len(lines)))
    body = "".join(f"{line}\n" for line in lines[:shown_before_failure]) + "OVERLOADED\n"
    handler, seen = scripted(
        httpx.Response(200, content=body.encode()), httpx.Response(200, content=b"again\nEND\n")
    )
    received: list[str] = []

    async def run() -> OverloadedError:
        with pytest.raises(OverloadedError) as caught:
            await drain(engine_for(handler).stream("POST", "/s", decoder=LineDecoder), received)
        return caught.value

    error = asyncio.run(run())
    assert received == lines[:shown_before_failure]
    assert error.partial == AIResponse(content="".join(received))
    assert len(seen) == 1  # never retried once something was shown
