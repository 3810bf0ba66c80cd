"""`make bench`: stream the same loopback responses through our adapters and the peer libraries.

Prints chunks/s and µs per chunk side by side for each stream, the ratio to the raw
``httpx`` + ``json`` baseline, and the import time of each library. The server runs in
its own process, so only client-side work is measured. Figures vary with the machine:
compare rows of one run, not runs of different machines.

Usage: ``python -m bench [--repeat N] [--only GROUP] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import clients
from bench.streams import all_streams

GROUPS: dict[str, tuple[list[str], list[tuple[str, clients.Opener]]]] = {
    "openai-compatible SSE (huggingface, openai)": (
        ["/text/200/v1", "/text/20000/v1", "/tools/v1"],
        [
            ("raw httpx + json", clients.raw_httpx_sse),
            ("chinese-worker HF", clients.ours_huggingface),
            ("chinese-worker OpenAI", clients.ours_openai),
            ("httpx-sse", clients.httpx_sse_client),
            ("openai-python", clients.openai_python),
            ("huggingface_hub", clients.huggingface_hub),
        ],
    ),
    "ollama (NDJSON)": (
        ["/ollama/200", "/ollama/20000"],
        [
            ("raw httpx + json", clients.raw_httpx_ndjson),
            ("chinese-worker Ollama", clients.ours_ollama),
            ("ollama-python", clients.ollama_python),
        ],
    ),
    "anthropic (events)": (
        ["/anthropic/200", "/anthropic/20000"],
        [
            ("raw httpx + json", clients.raw_httpx_anthropic),
            ("chinese-worker Claude", clients.ours_anthropic),
            ("anthropic", clients.anthropic_sdk),
        ],
    ),
}

IMPORTS = {
    "chinese-worker HF": "adapters.llm.huggingface",
    "chinese-worker Ollama": "adapters.llm.ollama",
    "chinese-worker Claude": "adapters.llm.anthropic",
    "chinese-worker OpenAI": "adapters.llm.openai",
    "httpx": "httpx",
    "httpx-sse": "httpx_sse",
    "openai-python": "openai",
    "huggingface_hub": "huggingface_hub.inference._generated._async_client",
    "ollama-python": "ollama",
    "anthropic": "anthropic",
}

STREAM_PATHS = {
    "/text/200/v1": "/text/200/v1/chat/completions",
    "/text/20000/v1": "/text/20000/v1/chat/completions",
    "/tools/v1": "/tools/v1/chat/completions",
    "/ollama/200": "/ollama/200/api/chat",
    "/ollama/20000": "/ollama/20000/api/chat",
    "/anthropic/200": "/anthropic/200/v1/messages",
    "/anthropic/20000": "/anthropic/20000/v1/messages",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "bench.server", str(port)], cwd=root)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("bench: the loopback server did not start")


async def _measure(
    openers: Sequence[tuple[str, clients.Opener]], base_url: str, prefix: str, events: int, repeat: int
) -> dict[str, tuple[float, float] | str]:
    """Median wall and CPU seconds of one whole stream, per client; a reason when skipped.

    Clients take turns within each round (the order rotating between rounds), so a change
    in the machine's load touches every client alike. CPU time is this process's only: the
    server runs in another process, so it measures the client's own work per chunk.
    """
    async with contextlib.AsyncExitStack() as stack:
        ready: list[tuple[str, clients.Consume]] = []
        skipped: dict[str, tuple[float, float] | str] = {}
        for label, opener in openers:
            try:
                consume = await stack.enter_async_context(opener(base_url, prefix))
            except ImportError as exc:
                skipped[label] = f"skipped: {exc}"
                continue
            seen = await consume()  # warm-up: connection pool, lazy imports, caches
            if seen < events * 0.9:  # ours yields events, not frames: a role-only frame yields none
                raise RuntimeError(f"{label} saw {seen} chunks of {events} on {prefix}")
            ready.append((label, consume))
        walls: dict[str, list[float]] = {label: [] for label, _ in ready}
        cpus: dict[str, list[float]] = {label: [] for label, _ in ready}
        for round_ in range(repeat):
            shift = round_ % max(1, len(ready))
            for label, consume in ready[shift:] + ready[:shift]:
                wall, cpu = time.perf_counter(), time.process_time()
                await consume()
                cpus[label].append(time.process_time() - cpu)
                walls[label].append(time.perf_counter() - wall)
    measured: dict[str, tuple[float, float] | str] = {
        label: (statistics.median(walls[label]), statistics.median(cpus[label])) for label, _ in ready
    }
    return {**measured, **skipped}


def _import_time(module: str, runs: int = 5) -> float | None:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return None
        samples.append(float(result.stdout.strip()))
    return statistics.median(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per stream and client (median)")
    parser.add_argument("--only", choices=["openai-compatible", "ollama", "anthropic"], help="run one group")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    streams = all_streams()
    process, base_url = _start_server()
    results: list[dict[str, object]] = []
    try:
        for group, (prefixes, consumers) in GROUPS.items():
            if args.only and not group.startswith(args.only):
                continue
            print(f"\n== {group}")
            for prefix in prefixes:
                stream = streams[STREAM_PATHS[prefix]]
                print(f"\n  {stream.name}: {stream.events} chunks")
                print(f"  {'library':<24}{'wall ms':>9}{'chunks/s':>11}{'CPU µs/chunk':>14}{'× raw':>7}")
                baseline: float | None = None
                repeat = max(1, args.repeat if stream.events < 10_000 else args.repeat // 2 + 1)
                figures = asyncio.run(_measure(consumers, base_url, prefix, stream.events, repeat))
                for label, _ in consumers:
                    figure = figures[label]
                    if isinstance(figure, str):
                        print(f"  {label:<24}  {figure}")
                        continue
                    wall, cpu = figure
                    per_chunk = cpu / stream.events
                    baseline = baseline or per_chunk
                    ratio = per_chunk / baseline
                    print(
                        f"  {label:<24}{wall * 1e3:>9.1f}{stream.events / wall:>11,.0f}"
                        f"{per_chunk * 1e6:>14.2f}{ratio:>7.2f}"
                    )
                    results.append(
                        {
                            "group": group,
                            "stream": stream.name,
                            "library": label,
                            "wall_seconds": wall,
                            "cpu_us_per_chunk": per_chunk * 1e6,
                            "ratio_to_raw": ratio,
                        }
                    )
    finally:
        process.terminate()
        process.wait(timeout=10)

    print("\n== import time (median of 5 fresh interpreters)")
    baseline_import = _import_time("sys") or 0.0
    for label, module in IMPORTS.items():
        seconds = _import_time(module)
        shown = "not installed" if seconds is None else f"{(seconds - baseline_import) * 1e3:8.1f} ms"
        print(f"  {label:<24}{shown}")
        results.append({"import": label, "seconds": seconds})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
