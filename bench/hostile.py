"""Peak memory of one client run against hostile servers, and the tool-call accumulator's scaling (issue 9).

Each scenario runs the real adapter (``HuggingFaceLLM`` with its default settings, so the
default caps) in a fresh client process against a loopback server that runs in its own
process and generates the hostile body on the fly:

- ``gzip bomb``: 1 GiB of SSE comments, gzip-compressed to ~2 MB on the wire;
- ``1 GiB line``: ``data: xxxx…`` with no newline, 1 GiB long;
- ``1 GiB error body``: a 500 whose body is 1 GiB;
- ``10^5 tool calls``: one streamed reply asking for 100,000 tool calls, run through the
  whole agent loop (`RunAgent`, the per-reply cap, a follow-up request);
- ``baseline``: a short normal reply, for the cost of the interpreter and the imports.

The client reports its peak RSS (``ru_maxrss``), the outcome and the error it ended with.
Then the accumulator is timed in process for 10k, 20k, 40k and 80k index-less fragments that
each end in ``}`` (the shape that used to be quadratic): the time per fragment should stay flat.

Usage: ``python -m bench.hostile [--only NAME ...] [--checkout DIR] [--json PATH]``.
``--checkout`` runs the clients (and the accumulator) on another checkout of the project,
e.g. a worktree of an older commit, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GiB = 1024 * 1024 * 1024
BLOCK = 64 * 1024
TOOL_CALLS = 100_000
HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
BOMB_CACHE = Path("/tmp/cw-bench-gzip-bomb-1gib.gz")

SCENARIOS = ("baseline", "gzip bomb", "1 GiB line", "1 GiB error body", "10^5 tool calls")
ROUTES = {
    "baseline": "ok",
    "gzip bomb": "bomb",
    "1 GiB line": "line",
    "1 GiB error body": "error",
    "10^5 tool calls": "tools",
}


# --- the hostile server (its own process) ----------------------------------------------------------


def gzip_bomb() -> bytes:
    """1 GiB of ``: keep-alive`` SSE comments as one gzip member (cached in /tmp)."""
    if BOMB_CACHE.is_file():
        return BOMB_CACHE.read_bytes()
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b": keep-alive\n" * ((1024 * 1024) // 13)
    parts = [compressor.compress(block) for _ in range(GiB // len(block))]
    data = b"".join([*parts, compressor.flush()])
    BOMB_CACHE.write_bytes(data)
    return data


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _tool_call_stream() -> Iterator[bytes]:
    for n in range(TOOL_CALLS):
        call = {
            "index": n,
            "id": f"c{n}",
            "type": "function",
            "function": {"name": "ping", "arguments": f'{{"n":{n}}}'},
        }
        yield _sse({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    yield _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    yield b"data: [DONE]\n\n"


def _answer(text: str) -> Iterator[bytes]:
    yield _sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]})
    yield _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    yield b"data: [DONE]\n\n"


def _reply(route: str, body: bytes, bomb: bytes) -> tuple[int, dict[str, str], Iterator[bytes]]:
    sse = {"content-type": "text/event-stream"}
    if route == "bomb":
        return (
            200,
            {**sse, "content-encoding": "gzip"},
            iter([bomb[i : i + BLOCK] for i in range(0, len(bomb), BLOCK)]),
        )
    if route == "line":
        filler = b"x" * BLOCK
        return 200, sse, iter([b"data: ", *([filler] * (GiB // BLOCK))])
    if route == "error":
        filler = b"e" * BLOCK
        return 500, {"content-type": "text/plain"}, iter([filler] * (GiB // BLOCK))
    if route == "tools":
        request = json.loads(body or b"{}")
        if any(message.get("role") == "tool" for message in request.get("messages", ())):
            return 200, sse, _answer("done")
        return 200, sse, _tool_call_stream()
    return 200, sse, _answer("hello")


async def _serve() -> None:
    bomb = gzip_bomb()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            status, headers, chunks = _reply(path.strip("/").split("/")[0], body, bomb)
            lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items()), "connection: close"]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client stopped reading: what a cap is for
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# --- one client run (a fresh process) ------------------------------------------------------------


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def _client(scenario: str, base_url: str) -> dict[str, Any]:
    from adapters.llm.huggingface import HuggingFaceLLM, HuggingFaceSettings
    from domain.messages import ChatMessage
    from domain.model_config import NormalizedModelConfig

    if scenario == "10^5 tool calls":
        return await _agent_run(base_url)
    settings = HuggingFaceSettings(api_key="hf_bench_token", base_url=base_url, max_retries=0, timeout=900.0)
    llm = HuggingFaceLLM(settings=settings, config=NormalizedModelConfig(model="m/m", timeout=900.0))
    outcome: dict[str, Any] = {"events": 0}
    try:
        async for _ in llm.stream([ChatMessage.user("hi")]):
            outcome["events"] += 1
        outcome["result"] = "completed"
    except Exception as error:
        outcome["result"] = type(error).__name__
        outcome["message"] = str(error)[:160]
    finally:
        await llm.aclose()
    return outcome


async def _agent_run(base_url: str) -> dict[str, Any]:
    from dependency_injector import providers

    from adapters.container import build_container
    from domain.messages import Role
    from domain.model_config import Agent

    def ping(n: int) -> str:
        """Answer a ping."""
        return f"pong {n}"

    environ = {
        "HUGGINGFACE_API_KEY": "hf_bench_token",
        "HUGGINGFACE_BASE_URL": base_url,
        "HUGGINGFACE_MAX_RETRIES": "0",
        "HUGGINGFACE_TIMEOUT": "900",
    }
    container = build_container("production", environ=environ)
    container.app_tools.override(providers.Object([ping]))
    agent = Agent(name="bench", backend="huggingface", model_config={"model": "m/m"}, tools=["ping"])
    ended = await container.run_agent().run(agent, "go")
    results = [m for m in ended.messages if m.role is Role.TOOL]
    return {
        "result": ended.status.value,
        "message": str(ended.error)[:160] if ended.error else "",
        "tool results": len(results),
        "tool results that ran": sum(not m.is_error for m in results),
    }


def _accumulator(fragments: int) -> dict[str, Any]:
    from adapters.llm._tool_calls import ToolCallAccumulator

    accumulator = ToolCallAccumulator()
    first = [{"function": {"name": "f", "arguments": '{"a": "'}}]
    piece = [{"function": {"name": "f", "arguments": "x}"}}]
    started = time.perf_counter()
    accumulator.feed(first)
    for _ in range(fragments):
        accumulator.feed(piece)
    accumulator.feed([{"function": {"name": "f", "arguments": '"}'}}])
    calls = accumulator.finish()
    seconds = time.perf_counter() - started
    return {
        "fragments": fragments,
        "seconds": round(seconds, 4),
        "us per fragment": round(1e6 * seconds / fragments, 2),
        "calls": len(calls),
    }


def _client_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--url", default="")
    args = parser.parse_args(argv)
    if args.client == "accumulator":
        rows = [_accumulator(n) for n in (10_000, 20_000, 40_000, 80_000)]
        print(json.dumps(rows))
        return
    started = time.perf_counter()
    outcome = asyncio.run(_client(args.client, args.url))
    outcome["seconds"] = round(time.perf_counter() - started, 2)
    outcome["peak RSS MiB"] = round(_peak_rss_mib(), 1)
    print(json.dumps(outcome))


# --- the orchestrator ------------------------------------------------------------------------------


def _run_client(args: list[str], checkout: Path, timeout: float) -> Any:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, str(HERE), *args],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        return {
            "result": f"client exited {done.returncode}",
            "message": done.stderr.strip().splitlines()[-1:],
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", choices=[*SCENARIOS, "accumulator"], help="scenarios to run")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the project checkout the clients import")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one client may take")
    args = parser.parse_args(argv)
    chosen = args.only or [*SCENARIOS, "accumulator"]
    figures: dict[str, Any] = {"checkout": str(args.checkout.resolve())}
    server = subprocess.Popen(
        [sys.executable, str(HERE), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(f"client checkout: {figures['checkout']}")
        print(f"{'scenario':<18} {'peak RSS':>10} {'seconds':>8}  outcome")
        for scenario in SCENARIOS:
            if scenario not in chosen:
                continue
            url = f"http://127.0.0.1:{port}/{ROUTES[scenario]}/v1"
            outcome = _run_client(["--client", scenario, "--url", url], args.checkout, args.timeout)
            figures[scenario] = outcome
            detail = ", ".join(
                f"{k}={v}" for k, v in outcome.items() if k not in {"peak RSS MiB", "seconds", "result"}
            )
            print(
                f"{scenario:<18} {outcome.get('peak RSS MiB', '?'):>7} MiB {outcome.get('seconds', '?'):>8}  "
                f"{outcome.get('result')}: {detail}"
            )
    finally:
        server.terminate()
        server.wait()
    if "accumulator" in chosen:
        rows = _run_client(["--client", "accumulator"], args.checkout, args.timeout)
        figures["accumulator"] = rows
        print("\ntool-call accumulator, index-less fragments each ending in '}':")
        for row in rows if isinstance(rows, list) else []:
            per = row["us per fragment"]
            print(f"  {row['fragments']:>6} fragments: {row['seconds']:>8.4f} s  ({per} µs per fragment)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve())
    elif "--client" in sys.argv:
        _client_main(sys.argv[1:])
    else:
        main()
