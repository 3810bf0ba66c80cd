"""Event logs that span processes: every API process's listeners see every event of a run."""

from adapters.events.redis_streams import RedisStreamsEventLog

__all__ = ["RedisStreamsEventLog"]
