"""How much a model server may send us: the caps that keep a hostile or broken server from exhausting memory.

A service runs many users' runs in one process, so one server must never be able to make it
buffer without bound: a line without a newline, an event of endless ``data:`` lines, a body
(a gzip bomb is small on the wire and huge decoded) or an error page. Each has a cap, counted
in decoded bytes; crossing one is a `StreamError` (``cw`` exit 22) that names the cap and the
variable that raises it.

The caps are settings shared by every backend (read by each backend's settings class):

=========================== ============ =====================================================
Variable                    Default      Caps
=========================== ============ =====================================================
``CW_MAX_LINE_BYTES``       16 MiB       one line of an event stream (SSE or NDJSON)
``CW_MAX_EVENT_BYTES``      16 MiB       one server-sent event (all its ``data:`` lines)
``CW_MAX_BODY_BYTES``       64 MiB       one reply body, streamed or not, after decompression
``CW_MAX_ERROR_BODY_BYTES`` 1 MiB        the body of a non-2xx reply
=========================== ============ =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from domain.errors import ConfigError

__all__ = ["LIMIT_VARIABLES", "StreamLimits"]

_MIB = 1024 * 1024

LIMIT_VARIABLES: Mapping[str, str] = {
    "max_line_bytes": "CW_MAX_LINE_BYTES",
    "max_event_bytes": "CW_MAX_EVENT_BYTES",
    "max_body_bytes": "CW_MAX_BODY_BYTES",
    "max_error_body_bytes": "CW_MAX_ERROR_BODY_BYTES",
}
"""Each cap → the variable that sets it."""


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        name = LIMIT_VARIABLES[attribute.name]
        raise ConfigError(f"{name} must be a positive number of bytes, not {value}")


@attrs.frozen(kw_only=True)
class StreamLimits:
    """The byte caps on what one reply may make us hold (see the module docs).

    Attributes:
        max_line_bytes: one SSE or NDJSON line.
        max_event_bytes: one server-sent event, all its data lines together.
        max_body_bytes: one reply body after decompression, streamed or read whole.
        max_error_body_bytes: the body of a non-2xx reply.
    """

    max_line_bytes: int = attrs.field(default=16 * _MIB, validator=_positive)
    max_event_bytes: int = attrs.field(default=16 * _MIB, validator=_positive)
    max_body_bytes: int = attrs.field(default=64 * _MIB, validator=_positive)
    max_error_body_bytes: int = attrs.field(default=1 * _MIB, validator=_positive)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StreamLimits:
        """The caps set in ``environ`` (``CW_MAX_*_BYTES``), the defaults for the rest.

        Raises:
            ConfigError: a value that is not a positive whole number; the message names it.
        """
        values: dict[str, int] = {}
        for field, name in LIMIT_VARIABLES.items():
            raw = (environ.get(name) or "").strip()
            if not raw:
                continue
            try:
                values[field] = int(raw.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{name} must be a whole number of bytes, not {raw!r}") from None
        return cls(**values)

    @staticmethod
    def variable(field: str) -> str:
        """The variable that sets cap ``field`` (``max_line_bytes`` → ``CW_MAX_LINE_BYTES``)."""
        return LIMIT_VARIABLES[field]
