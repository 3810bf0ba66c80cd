"""A small SSE parser for the tests: events with their id, type and JSON data; comments dropped."""

from __future__ import annotations

import json
from typing import Any

import attrs


@attrs.frozen
class Event:
    id: int | None
    type: str
    data: Any


def parse_sse(text: str) -> list[Event]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        if "data" not in fields and "event" not in fields:
            continue
        data = "\n".join(fields.get("data", []))
        events.append(
            Event(
                id=int(fields["id"][0]) if "id" in fields else None,
                type=fields.get("event", ["message"])[0],
                data=json.loads(data) if data else None,
            )
        )
    return events
