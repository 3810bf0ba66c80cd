"""Service bench: 200 concurrent conversations streaming through ``cw serve`` on loopback.

What runs: the loopback stream server (``bench.server``, its own process) plays the Hugging Face
router's SSE — the same bytes the adapter bench uses, no delay between chunks — and a real
``cw serve`` process (its own SQLite file, the in-process run queue) runs one agent run per
conversation with the real HF adapter. This process sends one message per conversation, all at
once, and follows every run's SSE stream to its terminal event.

Reported: SSE events/s, p50/p99 time from sending the message to the first SSE event and to the
first text chunk, the server's RSS (before, peak), the server's CPU per model chunk and per SSE
event against the bare adapter's CPU per chunk (measured here first, on the same stream), and
the memory and CPU an idle SSE listener costs the server.

Usage: ``python -m bench.service [--conversations 200] [--chunks 200] [--listeners 1000] [--json PATH]``.
Figures depend on the machine: on a 2-core box the stream server, ``cw serve`` and this client
share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CW = Path(sys.executable).with_name("cw")
TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                if process.poll() is not None:
                    raise SystemExit(f"bench: {url} did not start") from None
                await asyncio.sleep(0.1)
    raise SystemExit(f"bench: {url} did not start")


async def _adapter_cost(stream_base: str, chunks: int, runs: int = 20) -> float:
    """CPU seconds per chunk of the bare HF adapter on the same stream, in this process."""
    from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings
    from domain.messages import ChatMessage

    llm = HuggingFaceLLM.from_settings(
        HuggingFaceSettings(api_key="hf_bench", base_url=f"{stream_base}/text/{chunks}/v1")
    )
    messages = [ChatMessage.user("Benchmark me.")]
    try:
        async for _ in llm.stream(messages):  # warm-up
            pass
        started = time.process_time()
        for _ in range(runs):
            async for _ in llm.stream(messages):
                pass
        return (time.process_time() - started) / (runs * chunks)
    finally:
        await llm.aclose()


async def _follow(client: httpx.AsyncClient, url: str, sent_at: float) -> tuple[float, float, int, str]:
    """Follow one stream: (time to first event, time to first text chunk, events, last type)."""
    first = first_text = 0.0
    events = 0
    last = ""
    async with client.stream("GET", url) as response:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                now = time.perf_counter()
                events += 1
                last = line.split(":", 1)[1].strip()
                if not first:
                    first = now - sent_at
                if last == "text_chunk" and not first_text:
                    first_text = now - sent_at
    return first, first_text, events, last


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    stream_port, api_port = _free_port(), _free_port()
    stream_base = f"http://127.0.0.1:{stream_port}"
    api = f"http://127.0.0.1:{api_port}/api/v1"
    folder = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    (folder / "none.env").write_text("")
    streamer = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "bench.server", str(stream_port)], cwd=ROOT
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CW_", "AI_", "HUGGINGFACE_"))}
    env.update(
        {
            "CW_DATABASE_URL": f"sqlite:///{folder / 'cw.db'}",
            "CW_ENV_FILE": str(folder / "none.env"),
            "CW_MAX_CONCURRENT_RUNS": str(args.conversations),
            "AI_BACKEND": "huggingface",
            "HUGGINGFACE_API_KEY": "hf_bench",
            "HUGGINGFACE_BASE_URL": f"{stream_base}/text/{args.chunks}/v1",
        }
    )
    command = [str(CW), "serve", "--port", str(api_port)]
    if args.profile:  # the server under cProfile (written when it stops)
        script = folder / "serve.py"
        script.write_text("import sys\nfrom adapters.cli.main import main\nsys.exit(main())\n")
        profile = str(args.profile.resolve())
        command = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            profile,
            str(script),
            "serve",
            "--port",
            str(api_port),
        ]
    server = subprocess.Popen(  # noqa: ASYNC220
        command, cwd=folder, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL
    )
    try:
        await _wait_http(stream_base + "/", streamer)
        await _wait_http(api + "/auth/user", server)
        adapter_cost = await _adapter_cost(stream_base, args.chunks)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=api, timeout=300, limits=limits) as client:
            token = (
                await client.post(
                    "/auth/register",
                    json={"name": "Bench", "email": "bench@example.com", "password": "benchmark!"},
                )
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            agent = (await client.post("/agents", json={"name": "bench", "ai_backend": "huggingface"})).json()
            conversations = [
                (await client.post(f"/agents/{agent['id']}/conversations", json={})).json()["id"]
                for _ in range(args.conversations)
            ]
            # Warm-up run (imports, connection pools), not measured.
            warm = (
                await client.post(f"/conversations/{conversations[0]}/messages", json={"content": "hi"})
            ).json()
            await _follow(client, warm["stream_url"].removeprefix("/api/v1"), time.perf_counter())

            rss_before = _rss_kib(server.pid)
            peak = rss_before
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, _rss_kib(server.pid))
                    await asyncio.sleep(0.05)

            sampler = asyncio.ensure_future(sample())
            cpu_before = _cpu_seconds(server.pid)
            started = time.perf_counter()

            async def one(conversation_id: str) -> tuple[float, float, int, str]:
                sent_at = time.perf_counter()
                reply = await client.post(
                    f"/conversations/{conversation_id}/messages", json={"content": "go"}
                )
                url = reply.json()["stream_url"].removeprefix("/api/v1")
                return await _follow(client, url, sent_at)

            results = await asyncio.gather(*(one(c) for c in conversations))
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds(server.pid) - cpu_before
            sampling = False
            await sampler

            # Idle listeners: streams of ended runs, resumed after their last event, wait for more.
            idle_rss_before = _rss_kib(server.pid)
            idle_cpu_before = _cpu_seconds(server.pid)
            last_ids = {}
            for conversation_id in conversations:
                status = await client.get(f"/conversations/{conversation_id}/stream", params={"after": 0})
                last_ids[conversation_id] = max(
                    int(line[3:].strip()) for line in status.text.splitlines() if line.startswith("id:")
                )
            idle: list[Any] = []
            for index in range(args.listeners):
                conversation_id = conversations[index % len(conversations)]
                stream = client.stream(
                    "GET",
                    f"/conversations/{conversation_id}/stream",
                    params={"after": last_ids[conversation_id]},
                )
                idle.append(stream)
            opened = await asyncio.gather(*(stream.__aenter__() for stream in idle))
            assert all(response.status_code == 200 for response in opened)
            await asyncio.sleep(3)
            idle_rss = _rss_kib(server.pid) - idle_rss_before
            idle_started = time.perf_counter()
            idle_cpu_start = _cpu_seconds(server.pid)
            await asyncio.sleep(10)
            idle_cpu = (_cpu_seconds(server.pid) - idle_cpu_start) / (time.perf_counter() - idle_started)
            _ = idle_cpu_before
            await asyncio.gather(
                *(stream.__aexit__(None, None, None) for stream in idle), return_exceptions=True
            )
    finally:
        server.terminate()
        streamer.terminate()
        server.wait(timeout=30)
        streamer.wait(timeout=30)

    events = sum(r[2] for r in results)
    chunks = args.conversations * args.chunks
    ended = {r[3] for r in results}
    return {
        "conversations": args.conversations,
        "model_chunks_per_run": args.chunks,
        "terminal_events": sorted(ended),
        "wall_seconds": round(elapsed, 3),
        "sse_events": events,
        "sse_events_per_s": round(events / elapsed),
        "model_chunks_per_s": round(chunks / elapsed),
        "first_event_ms": {
            "p50": round(1000 * _percentile([r[0] for r in results], 0.5), 1),
            "p99": round(1000 * _percentile([r[0] for r in results], 0.99), 1),
        },
        "first_text_chunk_ms": {
            "p50": round(1000 * _percentile([r[1] for r in results], 0.5), 1),
            "p99": round(1000 * _percentile([r[1] for r in results], 0.99), 1),
        },
        "server_rss_mib": {"before": round(rss_before / 1024, 1), "peak": round(peak / 1024, 1)},
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_us_per_model_chunk": round(1e6 * cpu / chunks, 1),
        "server_cpu_us_per_sse_event": round(1e6 * cpu / events, 1),
        "adapter_cpu_us_per_chunk": round(1e6 * adapter_cost, 1),
        "ratio_per_model_chunk": round(cpu / chunks / adapter_cost, 2),
        "idle_listeners": args.listeners,
        "idle_listener_kib": round(idle_rss / args.listeners, 1),
        "idle_listeners_cpu_percent": round(100 * idle_cpu, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=200, choices=(200, 20000))
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="Run the server under cProfile, writing stats here.")
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    _ = statistics


if __name__ == "__main__":
    main()
