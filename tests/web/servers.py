"""Servers for the browser tests, each on a free loopback port, run from sync test code.

Playwright's sync API owns the test thread, so every asyncio server (the page on a bare
FastAPI app, the scripted Hugging Face router, the fake Ollama) runs in a thread with its
own event loop; `cw serve` runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def in_thread(manager: Any) -> Iterator[Any]:
    """Enter the async context manager ``manager`` on a loop in another thread; yield its value."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        value = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop).result(timeout=30)
        try:
            yield value
        finally:
            asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextlib.contextmanager
def uvicorn_app(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` on a free loopback port in a thread; yield its URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def cw_serve(
    args: list[str], env: Mapping[str, str], *, cwd: Path, log: Path, timeout: float = 60
) -> Iterator[str]:
    """Run ``cw serve --port P ARGS`` until the API answers; yield its URL; stop it with SIGTERM."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cw = Path(sys.executable).with_name("cw")
    command = [str(cw), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"cw serve exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if httpx.get(url + "/api/v1/ai-backends", timeout=2).status_code in (200, 401):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cw serve did not answer within {timeout} s:\n{log.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class DroppingProxy:
    """A TCP proxy on loopback whose open connections can be cut at once (a dropped network).

    Used as an async context manager on a loop of its own (`in_thread`); `drop` may be called
    from any thread and returns how many connections it cut.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> DroppingProxy:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))

    def _cut(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        self._writers.clear()
        return len(writers)

    def drop(self) -> int:
        """Cut every open connection (both sides) now."""
        assert self._loop is not None
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(lambda: future.set_result(self._cut()))
        return future.result(timeout=10)
