"""A real HTTP server on 127.0.0.1 that plays back scripted replies, byte for byte.

Why it exists: some behaviour cannot be shown with ``httpx.MockTransport`` — a read timeout
on a stalled stream, a socket closed the moment a caller cancels, a connection dropped in
the middle of a body. This server speaks real HTTP/1.1 over loopback (uvicorn does the
protocol), so the adapters run exactly as in production. ``cw demo`` serves a scripted
router conversation with it, and the tests use it.

Usage::

    async with ScriptedServer() as server:
        server.enqueue("/v1/chat/completions", ScriptedResponse(chunks=(b"data: ...\\n\\n",)))
        llm = HuggingFaceLLM(..., base_url=server.url + "/v1")
        ...
        server.requests[0].json()          # what the adapter sent
        await server.requests[0].disconnected.wait()   # the caller went away mid-body

Replies for a path are served in the order they were enqueued; a path can instead be given
a handler that builds a reply from the request. A request nobody scripted gets a 404 whose
body says so.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["RecordedRequest", "ScriptedResponse", "ScriptedServer"]

ASGIMessage = dict[str, Any]
Handler = Callable[["RecordedRequest"], "ScriptedResponse"]


def _headers(value: Mapping[str, str] | Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(name), str(content)) for name, content in items)


def _chunks(value: bytes | Sequence[bytes]) -> tuple[bytes, ...]:
    return (value,) if isinstance(value, bytes | bytearray) else tuple(bytes(chunk) for chunk in value)


@attrs.frozen(kw_only=True)
class ScriptedResponse:
    """One scripted reply.

    Attributes:
        status: the HTTP status.
        headers: response headers (a content type is added when missing).
        chunks: the body, written one chunk per network write.
        delay: seconds to wait before each chunk (a slow provider).
        drop_after: close the connection abruptly after this many chunks, without ending
            the body (a dropped connection); ``None`` sends the body to the end.
        stall_after: stop sending after this many chunks and keep the connection open
            until the client gives up (a stuck provider); ``None`` never stalls.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers)
    chunks: tuple[bytes, ...] = attrs.field(default=(), converter=_chunks)
    delay: float = 0.0
    drop_after: int | None = None
    stall_after: int | None = None

    @classmethod
    def json(
        cls, payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> ScriptedResponse:
        """A JSON body in one chunk."""
        all_headers = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=all_headers, chunks=(json.dumps(payload).encode(),))


@attrs.define(kw_only=True, eq=False)
class RecordedRequest:
    """A request the server received.

    Attributes:
        method: the HTTP method.
        path: the path, without the query string.
        query: the raw query string.
        headers: the headers, names lower-cased (a repeated header keeps its last value).
        body: the raw body.
        disconnected: set when the client closed the connection before the reply ended.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    disconnected: asyncio.Event = attrs.field(factory=asyncio.Event)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _DropConnectionError(Exception):
    """Raised inside the app to make uvicorn close the socket mid-body."""


class ScriptedServer:
    """An HTTP server on 127.0.0.1 (a free port) serving scripted replies; see the module docs.

    Args:
        routes: path → the replies to serve in order, or a handler building each reply.
        host: the address to listen on.
        port: the port to listen on; 0 (the default) takes a free one (see `url`).
    """

    def __init__(
        self,
        routes: Mapping[str, Sequence[ScriptedResponse] | Handler] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._queues: dict[str, collections.deque[ScriptedResponse]] = {}
        self._handlers: dict[str, Handler] = {}
        self._host = host
        self._listen_port = port
        self._port: int | None = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._log_level = logging.NOTSET
        self.requests: list[RecordedRequest] = []
        for path, script in (routes or {}).items():
            if callable(script):
                self.handle(path, script)
            else:
                self.enqueue(path, *script)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; only while the server runs."""
        if self._port is None:
            raise RuntimeError("the scripted server is not running; use `async with ScriptedServer()`")
        return f"http://{self._host}:{self._port}"

    def enqueue(self, path: str, *responses: ScriptedResponse) -> None:
        """Serve ``responses`` for ``path``, one per request, in order."""
        self._queues.setdefault(path, collections.deque()).extend(responses)

    def handle(self, path: str, handler: Handler) -> None:
        """Answer every request for ``path`` with ``handler(request)``."""
        self._handlers[path] = handler

    def pending(self, path: str) -> int:
        """How many enqueued replies for ``path`` have not been served yet."""
        return len(self._queues.get(path, ()))

    def _reply_for(self, request: RecordedRequest) -> ScriptedResponse:
        queue = self._queues.get(request.path)
        if queue:
            return queue.popleft()
        handler = self._handlers.get(request.path)
        if handler is not None:
            return handler(request)
        return ScriptedResponse.json(
            {"error": f"no scripted reply left for {request.method} {request.path}"}, status=404
        )

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
            },
            body=body,
        )
        self.requests.append(request)
        reply = self._reply_for(request)
        finished = False

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect" and not finished:
                request.disconnected.set()

        watcher = asyncio.create_task(watch())
        try:
            await self._play(reply, request, send)
            finished = True
        finally:
            if not request.disconnected.is_set():
                watcher.cancel()

    async def _play(self, reply: ScriptedResponse, request: RecordedRequest, send: Any) -> None:
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
        if not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", b"text/event-stream"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        for number, chunk in enumerate(reply.chunks):
            if reply.drop_after is not None and number >= reply.drop_after:
                raise _DropConnectionError
            if reply.stall_after is not None and number >= reply.stall_after:
                await self._stall(request)
                return
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if request.disconnected.is_set():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if reply.drop_after is not None and reply.drop_after <= len(reply.chunks):
            raise _DropConnectionError
        if reply.stall_after is not None:
            await self._stall(request)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stall(self, request: RecordedRequest) -> None:
        closing = asyncio.create_task(self._closing.wait())
        gone = asyncio.create_task(request.disconnected.wait())
        try:
            await asyncio.wait({closing, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            gone.cancel()

    async def __aenter__(self) -> ScriptedServer:
        import uvicorn  # imported here: only tests and `cw demo` need a server

        # The drop-connection script raises inside the app on purpose; keep that quiet.
        logger = logging.getLogger("uvicorn.error")
        self._log_level = logger.level
        logger.setLevel(logging.CRITICAL)
        config = uvicorn.Config(
            self._app,
            host=self._host,
            port=self._listen_port,
            lifespan="off",
            interface="asgi3",
            log_level="critical",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises the start-up failure
                raise RuntimeError("the scripted server stopped while starting")
            await asyncio.sleep(0.005)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._task is not None:
            await self._task
        self._port = None
        logging.getLogger("uvicorn.error").setLevel(self._log_level)
