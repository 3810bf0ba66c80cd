"""Run queues that span processes: runs sent from API processes to `cw worker` processes."""

from adapters.queue.taskiq_redis import RedisQueueSettings, TaskiqRedisRunQueue, TaskiqRedisWorker

__all__ = ["RedisQueueSettings", "TaskiqRedisRunQueue", "TaskiqRedisWorker"]
