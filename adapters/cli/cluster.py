"""``cw cluster``: API processes and workers on this machine, for a person to try scale-out.

Starts ``--api`` ``cw serve --queue`` processes on consecutive ports and ``--workers``
``cw worker`` processes, all against one Redis (``--queue`` / ``CW_QUEUE_URL``, default the
local one) and one PostgreSQL (``--database`` / ``CW_DATABASE_URL``, default the local
``postgres`` database). Any API process serves any conversation. Ctrl-C (or SIGTERM) stops
them all; when one of them exits on its own, the others are stopped too and the exit code
says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

import click

from adapters.cli.app import CliApp

__all__ = ["cluster"]

DEFAULT_QUEUE_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_CW = ("-c", "from adapters.cli.main import main; raise SystemExit(main())")


@click.command()
@click.option(
    "--api", "apis", type=click.IntRange(min=1), default=2, show_default=True, help="API processes."
)
@click.option("--workers", type=click.IntRange(min=1), default=3, show_default=True, help="Worker processes.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API processes listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="First API port."
)
@click.option(
    "--queue", "queue_url", metavar="URL", help=f"Redis URL [env: CW_QUEUE_URL; {DEFAULT_QUEUE_URL}]."
)
@click.option("--database", metavar="URL", help="Database URL [env: CW_DATABASE_URL; the local PostgreSQL].")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=None, help="Runs per worker [default: 100]."
)
@click.pass_obj
def cluster(
    app: CliApp,
    apis: int,
    workers: int,
    host: str,
    port: int,
    queue_url: str | None,
    database: str | None,
    concurrency: int | None,
) -> int:
    """Start API processes and workers on this machine (Ctrl-C stops them all)."""
    settings = app.settings()
    queue = queue_url or settings.get("CW_QUEUE_URL") or DEFAULT_QUEUE_URL
    db = database or settings.get("CW_DATABASE_URL") or DEFAULT_DATABASE_URL
    env = {**os.environ, "CW_QUEUE_URL": queue, "CW_DATABASE_URL": db}
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(workers):
            extra = ["--concurrency", str(concurrency)] if concurrency else []
            processes.append(
                (f"worker {index + 1}", subprocess.Popen([sys.executable, *_CW, "worker", *extra], env=env))  # noqa: S603
            )
        for index in range(apis):
            # The queue URL reaches `cw serve` through CW_QUEUE_URL in its environment, not its
            # argv: a password in it would show in every user's `ps`.
            argv = [sys.executable, *_CW, "serve", "--host", host, "--port", str(port + index)]
            processes.append((f"api http://{host}:{port + index}", subprocess.Popen(argv, env=env)))  # noqa: S603
        names = ", ".join(name for name, _ in processes)
        click.echo(f"cw cluster: started {names}; Ctrl-C stops them", err=True)
        failed = None
        while not stopping and failed is None:
            time.sleep(0.2)
            failed = next((name for name, p in processes if p.poll() is not None), None)
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failed is not None:
        click.echo(f"cw cluster: {failed} exited; stopped the others", err=True)
        return 1
    return 0
