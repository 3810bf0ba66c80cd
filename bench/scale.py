"""Scale-out bench: runs/s and events/s with 1, 2 and 4 `cw worker`-style processes, p99 time to
the first event, and the RSS of a worker holding 1,000 concurrent runs.

What runs: real `TaskiqRedisWorker` processes on the local Redis, each run streaming a fixed
number of chunks with a fixed delay per chunk (the fake backend's shape, without a model),
every chunk written as an event through `RedisStreamsEventLog` over the PostgreSQL event log
(the production path: one database insert and one ``XADD`` per event) or, to separate the
database's cost, over a per-process counter ("memory"). This process submits the runs through
`TaskiqRedisRunQueue`; ``--listeners`` processes (default 2, as two API processes) follow every
conversation through the event log, as SSE listeners do, and check the ids have no gap.
Figures depend on the machine: on a 2-core box the workers, Redis, PostgreSQL and the listeners
share the same two cores.

Usage: ``python -m bench.scale [--runs 200] [--chunks 20] [--delay 0.01] [--workers 1,2,4]
[--listeners 2] [--plot docs/scaling.png] [--json PATH]``. Needs Redis (``CW_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/0``) and PostgreSQL (``CW_BENCH_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``); it uses its own key prefix and schema and
removes them afterwards. Each worker keeps at most 8 database connections and each listener 5,
so the bench stays well under PostgreSQL's default 100 even with 4 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REDIS_URL = os.environ.get("CW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("CW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]


# --- the worker process ---------------------------------------------------------------------


async def _worker_main(prefix: str, schema: str, chunks: int, delay: float, concurrency: int) -> None:
    import signal

    from adapters.events.redis_streams import RedisStreamsEventLog
    from adapters.queue.taskiq_redis import RedisQueueSettings, TaskiqRedisWorker
    from adapters.storage.sql import Database
    from domain.service import RunJob

    db = Database(DATABASE_URL, schema=None if schema == "-" else schema, max_connections=8)
    events = RedisStreamsEventLog(REDIS_URL, durable=_durable(db, schema), prefix=prefix)

    async def handler(job: RunJob) -> None:
        cid = job.conversation_id
        await events.append(cid, "status_changed", {"status": "processing"})
        for index in range(chunks):
            await asyncio.sleep(delay)
            await events.append(cid, "text_chunk", {"chunk": f"w{index} ", "type": "content"})
        await events.append(cid, "completed", {"status": "completed", "stats": {"turns": 1}})

    worker = TaskiqRedisWorker(
        RedisQueueSettings(url=REDIS_URL, prefix=prefix), handler, concurrency=concurrency
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    try:
        await worker.run()
    finally:
        await events.aclose()
        await db.aclose()


class _ProcessLocalLog:
    """``--durable memory``: ids from a counter in this process (one writer per conversation),
    no database: isolates what the queue and the streams cost from the database's commits."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    async def append(self, conversation_id: str, type: str, data: Any) -> Any:
        from domain.service import StoredEvent

        event_id = self._last.get(conversation_id, 0) + 1
        self._last[conversation_id] = event_id
        return StoredEvent(id=event_id, conversation_id=conversation_id, type=type, data=dict(data))

    async def read(self, conversation_id: str, *, after: int = 0, limit: int | None = None) -> list[Any]:
        return []

    async def wait(self, conversation_id: str, *, after: int, max_wait: float) -> list[Any]:
        await asyncio.sleep(max_wait)
        return []

    async def delete(self, conversation_id: str) -> None:
        self._last.pop(conversation_id, None)


def _durable(db: Any, schema: str) -> Any:
    return _ProcessLocalLog() if schema == "-" else db.events


# --- the driver -----------------------------------------------------------------------------


def _start_workers(
    count: int, prefix: str, schema: str, chunks: int, delay: float, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.scale",
                "--worker",
                prefix,
                schema,
                str(chunks),
                str(delay),
                str(concurrency),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(count)
    ]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _wait_workers_ready(prefix: str, count: int) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        for _ in range(3600):  # three minutes: a loaded machine starts Python slowly
            subscribers = await client.pubsub_numsub(f"{prefix}:cancel")
            if subscribers and int(subscribers[0][1]) >= count:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the workers did not start")
    finally:
        await client.aclose()


async def _listener_main(prefix: str, schema: str, conversations: list[str]) -> None:
    """A listener process (an API process's SSE listeners): follows each conversation to its end.

    Prints ``ready`` once every listener waits, then one JSON line: per conversation the wall
    time of its first and last event and how many it got (any gap in the ids is an error).
    """
    from adapters.events.redis_streams import RedisStreamsEventLog
    from adapters.storage.sql import Database

    db = Database(DATABASE_URL, schema=None if schema == "-" else schema, max_connections=5)
    events = RedisStreamsEventLog(REDIS_URL, durable=_durable(db, schema), prefix=prefix)
    report: dict[str, list[float]] = {}

    async def listen(conversation_id: str) -> None:
        after, first = 0, 0.0
        while True:
            got = await events.wait(conversation_id, after=after, max_wait=600)
            if not got:
                raise RuntimeError(f"no event for {conversation_id} within 600 s")
            first = first or time.time()
            for event in got:
                if event.id != after + 1:
                    raise RuntimeError(f"gap in event ids: {after} then {event.id}")
                after = event.id
            if got[-1].type == "completed":
                report[conversation_id] = [first, time.time(), after]
                return

    tasks = [asyncio.create_task(listen(c)) for c in conversations]
    await asyncio.sleep(0.5)  # every listener is waiting
    print("ready", flush=True)
    try:
        await asyncio.gather(*tasks)
    finally:
        await events.aclose()
        await db.aclose()
    print(json.dumps(report), flush=True)


async def _scenario(
    workers: int,
    runs: int,
    chunks: int,
    delay: float,
    concurrency: int,
    schema: str,
    durable: str = "postgresql",
    listeners: int = 2,
) -> dict[str, Any]:
    import tempfile

    from adapters.queue.taskiq_redis import RedisQueueSettings, TaskiqRedisRunQueue
    from domain.service import RunJob

    prefix = f"cwbench-{uuid.uuid4().hex[:8]}"
    schema = "-" if durable == "memory" else schema
    processes = _start_workers(workers, prefix, schema, chunks, delay, concurrency)
    queue = TaskiqRedisRunQueue(RedisQueueSettings(url=REDIS_URL, prefix=prefix))
    peak_rss: dict[int, int] = {p.pid: 0 for p in processes}
    readers: list[subprocess.Popen[str]] = []
    try:
        await _wait_workers_ready(prefix, workers)
        idle_rss = {p.pid: _rss_kib(p.pid) for p in processes}
        jobs = [
            RunJob(run_id=uuid.uuid4().hex, conversation_id=uuid.uuid4().hex, owner_id="bench")
            for _ in range(runs)
        ]
        with tempfile.TemporaryDirectory() as folder:
            for index in range(listeners):
                ids = Path(folder) / f"ids-{index}"
                ids.write_text("\n".join(j.conversation_id for j in jobs[index::listeners]))
                readers.append(
                    subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
                        [sys.executable, "-m", "bench.scale", "--listen", prefix, schema, str(ids)],
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            for reader in readers:
                line = await asyncio.to_thread(reader.stdout.readline)  # type: ignore[union-attr]
                if line.strip() != "ready":
                    raise RuntimeError("a listener process did not start")

            async def sample_rss() -> None:
                while True:
                    for process in processes:
                        with contextlib.suppress(OSError):
                            peak_rss[process.pid] = max(peak_rss[process.pid], _rss_kib(process.pid))
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample_rss())
            submitted: dict[str, float] = {}
            for job in jobs:
                submitted[job.conversation_id] = time.time()
                await queue.submit(job)
            outputs = [await asyncio.to_thread(reader.communicate) for reader in readers]
            sampler.cancel()
        report: dict[str, list[float]] = {}
        for out, _ in outputs:
            report.update(json.loads(out.strip().splitlines()[-1]))
        if len(report) != runs:
            raise RuntimeError(f"{runs - len(report)} runs were not followed to their end")
        started = min(submitted.values())
        elapsed = max(last for _, last, _ in report.values()) - started
        total_events = sum(int(count) for _, _, count in report.values())
        ttfe = sorted(first - submitted[cid] for cid, (first, _, _) in report.items())
        return {
            "durable": durable,
            "workers": workers,
            "listener_processes": listeners,
            "runs": runs,
            "chunks_per_run": chunks,
            "delay_per_chunk_s": delay,
            "concurrency_per_worker": concurrency,
            "elapsed_s": round(elapsed, 3),
            "runs_per_s": round(runs / elapsed, 1),
            "events_per_s": round(total_events / elapsed, 1),
            "ttfe_p50_ms": round(statistics.median(ttfe) * 1000, 1),
            "ttfe_p99_ms": round(ttfe[min(len(ttfe) - 1, int(len(ttfe) * 0.99))] * 1000, 1),
            "worker_idle_rss_mib": round(statistics.mean(idle_rss.values()) / 1024, 1),
            "worker_peak_rss_mib": round(max(peak_rss.values()) / 1024, 1),
        }
    finally:
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
        _stop(processes)
        await queue.aclose()
        await _drop_prefix(prefix)


async def _drop_prefix(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


def _plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot drawn", file=sys.stderr)
        return False
    fig, (runs_axis, events_axis) = plt.subplots(1, 2, figsize=(10, 4.2))
    for durable, color in (("postgresql", "tab:blue"), ("memory", "tab:green")):
        rows = [r for r in results if r["durable"] == durable]
        if not rows:
            continue
        workers = [r["workers"] for r in rows]
        label = "events in Redis + PostgreSQL" if durable == "postgresql" else "events in Redis only"
        runs_axis.plot(workers, [r["runs_per_s"] for r in rows], "o-", color=color, label=label)
        events_axis.plot(workers, [r["events_per_s"] for r in rows], "s-", color=color, label=label)
        for axis in (runs_axis, events_axis):
            axis.set_xticks(workers)
    for axis, name in ((runs_axis, "runs/s"), (events_axis, "events/s")):
        axis.set_xlabel("worker processes")
        axis.set_ylabel(name)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    runs_axis.legend(loc="best", fontsize="small")
    first = results[0]
    fig.suptitle(
        f"{first['runs']} runs x {first['chunks_per_run']} chunks, "
        f"{first['delay_per_chunk_s'] * 1000:g} ms/chunk, {first['concurrency_per_worker']} runs per worker"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return True


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from adapters.storage.sql import Database

    schema = f"cwbench_{uuid.uuid4().hex[:8]}"
    db = Database(DATABASE_URL, schema=schema)
    await db.upgrade()
    results: list[dict[str, Any]] = []
    try:
        for durable in ("postgresql", "memory"):
            for workers in [int(w) for w in args.workers.split(",")]:
                result = await _scenario(
                    workers,
                    args.runs,
                    args.chunks,
                    args.delay,
                    args.concurrency,
                    schema,
                    durable,
                    args.listeners,
                )
                results.append(result)
                print(json.dumps(result), flush=True)
        # Events in Redis only: the worker's own memory per run, without runs queueing on the
        # database's commits (1,000 concurrent writers on one PostgreSQL measure the database).
        memory = await _scenario(
            1,
            args.memory_runs,
            args.memory_chunks,
            args.memory_delay,
            args.memory_runs,
            schema,
            "memory",
            args.listeners,
        )
        memory["per_run_kib"] = round(
            (memory["worker_peak_rss_mib"] - memory["worker_idle_rss_mib"]) * 1024 / args.memory_runs, 1
        )
        print(json.dumps({"memory": memory}), flush=True)
    finally:
        async with db.sql.transaction("drop the bench schema", write=True) as connection:
            import sqlalchemy as sa

            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.aclose()
    print()
    print(
        f"{'events in':>10} {'workers':>7} {'runs/s':>8} {'events/s':>9} "
        f"{'TTFE p50':>9} {'TTFE p99':>9} {'peak RSS':>9}"
    )
    for r in results:
        print(
            f"{r['durable']:>10} {r['workers']:>7} {r['runs_per_s']:>8} {r['events_per_s']:>9} "
            f"{r['ttfe_p50_ms']:>7}ms "
            f"{r['ttfe_p99_ms']:>7}ms {r['worker_peak_rss_mib']:>6}MiB"
        )
    print(
        f"1 worker holding {args.memory_runs} concurrent runs: RSS {memory['worker_peak_rss_mib']} MiB "
        f"(idle {memory['worker_idle_rss_mib']} MiB, {memory['per_run_kib']} KiB per run)"
    )
    if args.plot and _plot(results, Path(args.plot)):
        print(f"plot: {args.plot}")
    return {"throughput": results, "memory": memory}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--listen":
        asyncio.run(_listener_main(argv[1], argv[2], Path(argv[3]).read_text().split()))
        return
    if argv and argv[0] == "--worker":
        prefix, schema, chunks, delay, concurrency = argv[1:6]
        asyncio.run(_worker_main(prefix, schema, int(chunks), float(delay), int(concurrency)))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds per chunk")
    parser.add_argument("--concurrency", type=int, default=100, help="runs per worker")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--listeners", type=int, default=2, help="listener processes (as API processes)")
    parser.add_argument("--memory-runs", type=int, default=1000)
    parser.add_argument("--memory-chunks", type=int, default=6)
    parser.add_argument("--memory-delay", type=float, default=1.0)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "scaling.png"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    figures = asyncio.run(_main(args))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
