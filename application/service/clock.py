"""Ids and times for new records: UUID4 hex ids and timezone-aware UTC times."""

from __future__ import annotations

import datetime as dt
import uuid

__all__ = ["new_id", "now"]


def new_id() -> str:
    """A new record id (UUID4 hex)."""
    return uuid.uuid4().hex


def now() -> dt.datetime:
    """The current time, UTC."""
    return dt.datetime.now(dt.UTC)
