"""``cw serve``: the HTTP API on a real database, until SIGINT or SIGTERM.

It applies pending migrations first, marks conversations a crash left ``processing`` as
failed ("interrupted by a restart"), prints the URL and where the database is, then serves.
On SIGINT/SIGTERM it stops the runs in flight first — each ends ``cancelled`` with its
terminal event, so the open streams deliver it and close — then stops serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import click

from adapters.cli.app import CliApp

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option(
    "--queue",
    "queue_url",
    metavar="URL",
    default=None,
    help="Send runs to `cw worker` processes through this Redis run queue [env: CW_QUEUE_URL].",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Offline demo: the fake backend, loopback Hugging Face and Ollama stand-ins, a demo user "
    "and agents; prints a link that signs in.",
)
@click.pass_obj
def serve(app: CliApp, host: str, port: int, queue_url: str | None, demo: bool) -> None:
    """Serve the HTTP API (/api/v1) and the web app (/) on the database CW_DATABASE_URL names."""
    asyncio.run(_serve(app, host, port, queue_url, demo=demo))


async def _serve(
    app: CliApp,
    host: str,
    port: int,
    queue_url: str | None = None,
    *,
    demo: bool = False,
    welcome: Any = None,
) -> None:
    import uvicorn

    if demo:
        from adapters.web.demo import serve_demo

        async with serve_demo(app.settings()) as setup:
            demo_app = CliApp(settings=setup.settings, container_override=setup.container)
            await _serve(demo_app, host, port, queue_url, welcome=setup.welcome)
        return

    from adapters.http import create_app
    from adapters.service import build_service
    from adapters.storage.sql import Database, database_url

    settings = app.settings()
    from adapters.queue.wiring import database_connections

    db = Database(
        database_url(settings.get("CW_DATABASE_URL")), max_connections=database_connections(settings.environ)
    )
    try:
        await db.upgrade()
        service = await build_service(settings, db=db, container=app.container_override, queue_url=queue_url)
    except BaseException:
        await db.aclose()
        raise
    try:
        interrupted = await service.recover()
        api = create_app(service)
        config = uvicorn.Config(
            api,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
        server = _Server(config, service)
        listener = _listen(host, port)  # before saying where: a port in use is one error line
        port = int(listener.getsockname()[1])  # --port 0 takes a free one
        shown_host = f"[{host}]" if ":" in host else host
        _say(f"Chinese Worker API on http://{shown_host}:{port}/api/v1 (OpenAPI docs at /docs)")
        _say(f"Web app on http://{shown_host}:{port}/")
        _say(f"Database: {db.describe()}")
        if service.queue_description:
            _say(f"Runs: {service.queue_description}")
        if interrupted:
            _say(f"Marked {interrupted} conversation(s) left running by a previous stop as failed.")
        if welcome is not None:
            for line in await welcome(db, f"http://{shown_host}:{port}/"):
                _say(line)
        _say("Press Ctrl-C to stop.")
        await server.serve(sockets=[listener])
    finally:
        await service.aclose()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to serve on."""
    from domain.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        reason = error.strerror or str(error)
        message = f"cannot listen on {host}:{port}: {reason}; pick another --port or --host"
        raise ConfigError(message) from None
    listener.set_inheritable(True)
    return listener


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _Server:
    """uvicorn's server with our own signal handling: runs are cancelled before serving stops."""

    def __init__(self, config: Any, service: Any) -> None:
        import uvicorn

        self._service = service
        self._stopping: asyncio.Task[None] | None = None
        self._server = uvicorn.Server(config)
        self._server.capture_signals = self._capture_signals  # type: ignore[method-assign]

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await self._server.serve(sockets=sockets)
        if self._stopping is not None:
            await self._stopping

    @contextlib.contextmanager
    def _capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self._stopping is not None:  # a second signal: stop at once
            self._server.force_exit = True
            self._server.should_exit = True
            return
        self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        try:
            await self._service.stop_runs()
        finally:
            self._server.should_exit = True
