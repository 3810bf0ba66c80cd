"""`RunStreamBroker`: taskiq-redis's stream broker, hardened for long runs on workers that may die."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from adapters.queue.settings import UNAVAILABLE, RedisQueueSettings

__all__ = ["RunStreamBroker"]

logger = logging.getLogger(__name__)


class RunStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, hardened for long runs on workers that may die.

    The stock ``listen`` only looks for abandoned jobs after new ones arrived and stops on
    the first connection error. This one claims abandoned jobs on a timer, reads one job at
    a time (so a busy worker never hoards jobs an idle one could take), survives Redis
    restarts, and deletes a job from the stream once it is acknowledged.
    """

    def __init__(self, settings: RedisQueueSettings, *, consumer_name: str) -> None:
        super().__init__(
            settings.url,
            queue_name=settings.stream,
            consumer_group_name=settings.group,
            consumer_name=consumer_name,
            consumer_id="0",  # a group created after jobs were queued still sees them
            xread_block=1000,
            xread_count=1,
            idle_timeout=int(settings.redelivery_after * 1000),
            socket_connect_timeout=settings.connect_timeout,
            socket_timeout=max(10.0, settings.connect_timeout),
            health_check_interval=30,
        )
        self.settings = settings

    async def startup(self) -> None:
        # A worker started while Redis is down waits for it in `listen` instead of failing here.
        with contextlib.suppress(*UNAVAILABLE):
            await super().startup()

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def _ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as conn:
                pipe = conn.pipeline(transaction=True)
                pipe.xack(queue_name, self.consumer_group_name, id)
                pipe.xdel(queue_name, id)
                await pipe.execute()

        return _ack

    def _message(self, msg_id: Any, fields: Any) -> AckableMessage:
        ack = self._ack_generator(id=msg_id, queue_name=self.queue_name)
        return AckableMessage(data=fields[b"data"], ack=ack)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        claim_every = max(0.2, self.settings.redelivery_after / 2)
        loop = asyncio.get_running_loop()
        next_claim = loop.time()
        backoff = 0.2
        async with Redis(connection_pool=self.connection_pool) as conn:
            while True:
                try:
                    if loop.time() >= next_claim:
                        next_claim = loop.time() + claim_every
                        reply: Any = await conn.xautoclaim(
                            self.queue_name,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=self.idle_timeout,
                            count=10,
                        )
                        for msg_id, fields in reply[1]:
                            if fields:  # entries deleted meanwhile come back empty
                                yield self._message(msg_id, fields)
                    fetched: Any = await conn.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=min(self.block, int(claim_every * 1000)),
                        count=1,
                    )
                    backoff = 0.2
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    await self._declare_consumer_group()  # Redis came back without our group
                    continue
                except UNAVAILABLE as exc:
                    logger.warning("Redis unreachable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    with contextlib.suppress(*UNAVAILABLE, RedisError):
                        await self._declare_consumer_group()
                    continue
                for _stream, messages in fetched or ():
                    for msg_id, fields in messages:
                        yield self._message(msg_id, fields)
