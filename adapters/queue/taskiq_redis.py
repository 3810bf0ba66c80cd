"""The run queue on Redis: `RunQueuePort` on Taskiq with taskiq-redis's stream broker.

Why Taskiq (see docs/scaling.md): it is asyncio-native, so a worker runs hundreds of runs
as tasks of one event loop, and taskiq-redis's `RedisStreamBroker` keeps a job in the
consumer group's pending list until the worker acknowledges it, so a job whose worker died
is delivered again. This module adds what a run needs on top of that:

- **Delivery after completion.** Jobs are acknowledged by hand (`AcknowledgeType.MANUAL`)
  once the run handler returned, then deleted from the stream, so the stream holds only
  live jobs.
- **Redelivery.** A job pending longer than ``redelivery_after`` is claimed again
  (``XAUTOCLAIM``). The worker that runs a job holds a lease (a key with a TTL it keeps
  refreshing); a job claimed while another live worker holds its lease is left alone, so a
  slow run is never executed twice. Each execution counts an attempt (``INCR``); the
  handler sees it in `RunJob.attempt` (and tells listeners with a ``retry`` event); past
  ``max_deliveries`` the `give_up` hook ends the run as failed.
- **Cancellation across processes.** ``cancel`` marks the run cancelled (for a job still
  queued) and publishes on a channel every worker listens to; the worker holding the run
  cancels its task, which closes the model stream.
- **Redis down.** ``submit`` raises `QueueUnavailableError` at once (the API answers 503);
  the connection pool reconnects by itself on the next call. Workers keep retrying with a
  back-off and re-create their consumer group when Redis came back empty.

Keys (all under ``prefix``): ``{p}:jobs`` (the stream), ``{p}:run:{conversation}`` (the run
queued or executing for a conversation), ``{p}:lease:{run}``, ``{p}:attempts:{run}``,
``{p}:cancel:{run}``, and the pub/sub channel ``{p}:cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import Context, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq.exceptions import SendTaskError
from taskiq.receiver import Receiver

from adapters.queue._stream_broker import RunStreamBroker
from adapters.queue.settings import UNAVAILABLE, RedisQueueSettings, redis_client, redis_location
from domain.errors import QueueUnavailableError
from domain.ports import RunHandler
from domain.service import RunJob

__all__ = ["GiveUp", "RedisQueueSettings", "TaskiqRedisRunQueue", "TaskiqRedisWorker", "redis_location"]

logger = logging.getLogger(__name__)

TASK_NAME: Final = "cw.run"

GiveUp = Callable[[RunJob, str], Awaitable[None]]
"""Ends a run that cannot be delivered again (marks it failed with the message, tells listeners)."""


# Delete the conversation's run marker only when it still names this run.
_RELEASE_RUN: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_MARKER_TTL: Final = 7 * 24 * 3600  # a queued job older than a week is long dead


def _job_payload(job: RunJob) -> dict[str, Any]:
    return {
        "run_id": job.run_id,
        "conversation_id": job.conversation_id,
        "owner_id": job.owner_id,
        "resume": job.resume,
    }


def _job_from_payload(payload: dict[str, Any]) -> RunJob:
    return RunJob(
        run_id=str(payload["run_id"]),
        conversation_id=str(payload["conversation_id"]),
        owner_id=str(payload["owner_id"]),
        resume=bool(payload.get("resume", False)),
    )


def _unavailable(settings: RedisQueueSettings, exc: BaseException) -> QueueUnavailableError:
    return QueueUnavailableError(
        f"the run queue is unavailable: Redis at {redis_location(settings.url)} does not answer "
        f"({type(exc).__name__}); try again in a moment"
    )


@attrs.define
class TaskiqRedisRunQueue:
    """The API side: send runs to the workers and stop them wherever they run."""

    spans_processes: bool = attrs.field(init=False, default=True)
    """Runs execute in worker processes: an API process starting must not fail them as interrupted."""

    settings: RedisQueueSettings
    _broker: RunStreamBroker = attrs.field(init=False)
    _redis: Redis = attrs.field(init=False)
    _group_ready: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self._broker = RunStreamBroker(self.settings, consumer_name=f"api-{uuid.uuid4().hex[:8]}")
        self._broker.register_task(_never_called_here, task_name=TASK_NAME)
        self._redis = redis_client(self.settings.url, connect_timeout=self.settings.connect_timeout)

    def describe(self) -> str:
        """Where the runs go, for people (no password)."""
        where = redis_location(self.settings.url)
        return f"cw worker processes via Redis at {where} (prefix {self.settings.prefix})"

    async def submit(self, job: RunJob) -> None:
        try:
            if not self._group_ready:
                # The group reads from the stream's start, so jobs queued before any worker
                # started are not missed.
                await self._broker._declare_consumer_group()
                self._group_ready = True
            await self._redis.set(self.settings.run_key(job.conversation_id), job.run_id, ex=_MARKER_TTL)
            await self._broker.find_task(TASK_NAME).kiq(_job_payload(job))  # type: ignore[union-attr]
        except SendTaskError as exc:
            raise _unavailable(self.settings, exc.__cause__ or exc) from exc
        except (*UNAVAILABLE, RedisError) as exc:
            self._group_ready = False
            raise _unavailable(self.settings, exc) from exc

    async def cancel(self, conversation_id: str) -> bool:
        try:
            raw = await self._redis.get(self.settings.run_key(conversation_id))
            if raw is None:
                return False
            run_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            await self._redis.set(self.settings.cancel_key(run_id), "1", ex=_MARKER_TTL)
            await self._redis.publish(self.settings.cancel_channel, run_id)
            await self._wait_for_end(conversation_id, run_id)
        except (*UNAVAILABLE, RedisError) as exc:
            raise _unavailable(self.settings, exc) from exc
        return True

    async def _wait_for_end(self, conversation_id: str, run_id: str) -> None:
        """While a worker holds the run, wait (``cancel_wait`` at most) until it recorded the end,
        as the in-process queue does: the caller then finds the conversation ``cancelled``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.cancel_wait
        while loop.time() < deadline:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self.settings.run_key(conversation_id))
            pipe.exists(self.settings.lease_key(run_id))
            current, leased = await pipe.execute()
            if current is None or current.decode() != run_id or not leased:
                return  # ended, replaced, or still queued (its worker cancels it when it starts)
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        await self._broker.shutdown()
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()


async def _never_called_here(job: dict[str, Any]) -> None:  # pragma: no cover - only sent from here
    raise RuntimeError("runs execute on `cw worker`, not in the API process")


async def _call(handler: RunHandler, job: RunJob) -> None:
    await handler(job)


async def _log_give_up(job: RunJob, error: str) -> None:
    logger.error("run %s of conversation %s given up: %s", job.run_id, job.conversation_id, error)


@attrs.define
class TaskiqRedisWorker:
    """The worker side: execute queued runs with ``handler``, up to ``concurrency`` at once.

    ``run()`` serves until ``stop()``; runs still in flight then are cancelled (the handler
    records the cancellation) and acknowledged.
    """

    settings: RedisQueueSettings
    handler: RunHandler
    concurrency: int = 100
    give_up: GiveUp = _log_give_up
    name: str = attrs.field(factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    _broker: RunStreamBroker = attrs.field(init=False)
    _redis: Redis = attrs.field(init=False)
    _running: dict[str, asyncio.Task[None]] = attrs.field(init=False, factory=dict)
    """Run id -> the task executing it."""
    _finish: asyncio.Event = attrs.field(init=False, factory=asyncio.Event)
    _started: asyncio.Event = attrs.field(init=False, factory=asyncio.Event)
    executed: int = attrs.field(init=False, default=0)
    """Runs this worker executed (not counting jobs it left to the worker holding them)."""

    def __attrs_post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._broker = RunStreamBroker(self.settings, consumer_name=self.name)
        execute = self._execute

        async def run_job(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:  # noqa: B008
            await execute(payload, context)

        self._broker.register_task(run_job, task_name=TASK_NAME)
        self._redis = redis_client(self.settings.url, connect_timeout=self.settings.connect_timeout)

    @property
    def running(self) -> int:
        return len(self._running)

    async def wait_started(self) -> None:
        """Return once the worker listens for jobs and cancellations."""
        await self._started.wait()

    async def run(self) -> None:
        """Serve jobs until `stop` is called, then cancel the runs in flight and wait for them."""
        receiver = Receiver(
            self._broker,
            max_async_tasks=self.concurrency,
            max_prefetch=0,
            ack_type=AcknowledgeType.MANUAL,
            propagate_exceptions=False,
            validate_params=False,
        )
        helpers = [
            asyncio.create_task(self._listen_for_cancellations()),
            asyncio.create_task(self._renew_leases()),
        ]
        listener = asyncio.create_task(receiver.listen(self._finish))
        finishing = asyncio.create_task(self._finish.wait())
        try:
            await asyncio.wait({listener, finishing}, return_when=asyncio.FIRST_COMPLETED)
            self._finish.set()
            for task in list(self._running.values()):
                task.cancel()
            await listener  # raises what stopped the receiver, if it failed
        finally:
            listener.cancel()
            finishing.cancel()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(listener, finishing, *helpers, return_exceptions=True)
            await self._broker.shutdown()
            await self._redis.aclose()
            await self._redis.connection_pool.disconnect()

    def stop(self) -> None:
        """Stop taking jobs; `run` then cancels the runs in flight and returns."""
        self._finish.set()

    # --- one job -------------------------------------------------------------------------

    async def _execute(self, payload: dict[str, Any], context: Context) -> None:
        job = _job_from_payload(payload)
        keys = self.settings
        lease_ms = int(keys.lease * 1000)
        if self._finish.is_set():
            return  # shutting down: leave the job pending for another worker
        try:
            if not await self._redis.set(keys.lease_key(job.run_id), self.name, nx=True, px=lease_ms):
                return  # another live worker holds it: leave the job pending, it acknowledges it
            attempt = int(await self._redis.incr(keys.attempts_key(job.run_id)))
            await self._redis.expire(keys.attempts_key(job.run_id), _MARKER_TTL)
        except (*UNAVAILABLE, RedisError):
            logger.warning("Redis unreachable while taking run %s; it will be delivered again", job.run_id)
            return
        job = attrs.evolve(job, attempt=attempt)
        if attempt > keys.max_deliveries:
            await self.give_up(
                job,
                f"the run was interrupted {attempt - 1} times (its worker stopped) and is not "
                f"retried again (delivery limit {keys.max_deliveries})",
            )
            await self._finish_job(job, context)
            return
        task = asyncio.create_task(_call(self.handler, job), name=f"run-{job.run_id}")
        self._running[job.run_id] = task
        self.executed += 1
        try:
            if self._finish.is_set() or await self._cancel_requested(job.run_id):
                await asyncio.sleep(0)  # let the handler start, so it can record the cancellation
                task.cancel()
            await task
        except asyncio.CancelledError:
            if not task.done():  # we were cancelled ourselves, not the run
                task.cancel()
                raise
        except Exception:
            logger.exception("run %s failed unexpectedly; it will be delivered again", job.run_id)
            self._running.pop(job.run_id, None)
            with contextlib.suppress(*UNAVAILABLE, RedisError):
                await self._redis.delete(keys.lease_key(job.run_id))
            return
        self._running.pop(job.run_id, None)
        await self._finish_job(job, context)

    async def _cancel_requested(self, run_id: str) -> bool:
        try:
            return bool(await self._redis.exists(self.settings.cancel_key(run_id)))
        except (*UNAVAILABLE, RedisError):
            return False

    async def _finish_job(self, job: RunJob, context: Context) -> None:
        keys = self.settings
        try:
            await context.ack()
            pipe = self._redis.pipeline(transaction=False)
            run_id = job.run_id
            pipe.delete(keys.lease_key(run_id), keys.attempts_key(run_id), keys.cancel_key(run_id))
            pipe.eval(_RELEASE_RUN, 1, keys.run_key(job.conversation_id), job.run_id)
            await pipe.execute()
        except (*UNAVAILABLE, RedisError):
            logger.warning("Redis unreachable while acknowledging run %s", job.run_id)

    # --- background helpers --------------------------------------------------------------

    async def _listen_for_cancellations(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.settings.cancel_channel)
                self._started.set()
                backoff = 0.2
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is None or message.get("type") != "message":
                        continue
                    data = message["data"]
                    run_id = data.decode() if isinstance(data, bytes) else str(data)
                    task = self._running.get(run_id)
                    if task is not None:
                        task.cancel()
            except (*UNAVAILABLE, RedisError) as exc:
                name = type(exc).__name__
                logger.warning("cancel channel lost (%s); resubscribing in %.1fs", name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _renew_leases(self) -> None:
        lease_ms = int(self.settings.lease * 1000)
        while True:
            await asyncio.sleep(self.settings.lease / 3)
            if not self._running:
                continue
            try:
                pipe = self._redis.pipeline(transaction=False)
                for run_id in list(self._running):
                    pipe.set(self.settings.lease_key(run_id), self.name, px=lease_ms)
                await pipe.execute()
            except (*UNAVAILABLE, RedisError) as exc:
                logger.warning("could not renew leases (%s)", type(exc).__name__)
