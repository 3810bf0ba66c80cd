"""SQLite: a trigger moves the event counter on, so an event is appended in one statement

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

On SQLite `SQLEventLog.append` inserts the event with ``counter + 1`` as its id in one
statement, outside an explicit transaction (fewer round trips through aiosqlite); this
trigger then stores the new id in ``event_counters`` as part of that same statement.
PostgreSQL bumps the counter in a data-modifying CTE instead and needs nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            """
            CREATE TRIGGER events_bump_counter AFTER INSERT ON events
            BEGIN
                INSERT INTO event_counters (conversation_id, last_id)
                VALUES (NEW.conversation_id, NEW.id)
                ON CONFLICT (conversation_id) DO UPDATE SET last_id = MAX(last_id, excluded.last_id);
            END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_bump_counter")
