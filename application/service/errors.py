"""The errors the service's use cases raise on purpose; the HTTP adapter maps each to a status.

```
AgentError
├── NotFoundError          no such record for this owner (another owner's is reported the same)
├── ConflictError          the request clashes with the record's state (a run in progress…)
└── ValidationFailedError  the input is invalid; ``errors`` maps field paths to messages
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.errors import AgentError

__all__ = ["ConflictError", "NotFoundError", "ValidationFailedError"]


class NotFoundError(AgentError):
    """No such record for this owner; another owner's record is reported exactly the same way."""


class ConflictError(AgentError):
    """The request clashes with the current state: a run already owns the conversation, a tool
    result was already given, nothing is running to stop."""


class ValidationFailedError(AgentError):
    """The input is invalid. ``errors`` maps a field path (``model_config.temperature``) to
    messages a person can act on; ``message`` summarises them."""

    def __init__(self, errors: Mapping[str, Sequence[str]], message: str | None = None) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        first = next(iter(self.errors.items()), ("input", ["is invalid"]))
        summary = message or f"{first[0]}: {first[1][0]}"
        if message is None and len(self.errors) > 1:
            summary += f" (and {len(self.errors) - 1} more error(s))"
        super().__init__(summary)


def require(errors: dict[str, list[str]]) -> None:
    """Raise `ValidationFailedError` when ``errors`` holds anything."""
    if errors:
        raise ValidationFailedError(errors)
