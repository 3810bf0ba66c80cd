"""The service's database on SQLAlchemy 2 (async): SQLite by default, PostgreSQL for scale.

`database_url` says which database (``CW_DATABASE_URL`` or the default SQLite file) and
`Database` opens it, migrates it and hands out the repositories implementing the service's
ports: ``users``, ``agents``, ``conversations``, ``messages`` and ``events``.
"""

from __future__ import annotations

from adapters.storage.sql.conversations import SQLConversationRepository
from adapters.storage.sql.database import Database
from adapters.storage.sql.events import SQLEventLog
from adapters.storage.sql.messages import SQLConversationStore
from adapters.storage.sql.repositories import SQLAgentRepository, SQLUserRepository
from adapters.storage.sql.url import database_url, default_sqlite_path

__all__ = [
    "Database",
    "SQLAgentRepository",
    "SQLConversationRepository",
    "SQLConversationStore",
    "SQLEventLog",
    "SQLUserRepository",
    "database_url",
    "default_sqlite_path",
]
