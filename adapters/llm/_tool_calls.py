"""Tolerant reassembly of tool calls streamed as OpenAI-style ``delta.tool_calls`` entries.

Why: streamed tool-call assembly is the most common source of bugs across LLM clients,
because every provider bends the format differently. Some send ``id`` and ``name`` only in
the first chunk, others repeat them in every chunk (naive concatenation then doubles them),
some send an empty-string name first or on continuation chunks, some omit ``index`` or send
``null``, some send the arguments whole, or as a JSON object instead of a string, or a
single object instead of a list. `ToolCallAccumulator` accepts all of these.

The rules, in the order they are applied to each entry:

* **Which call.** An entry whose ``id`` was already seen continues that call. Otherwise an
  entry with an integer ``index`` continues the call at that index, unless it brings a new
  ``id`` *and* a ``name`` while that call already has arguments: then it starts a new call
  (providers that number every parallel call ``0``). An entry without an index starts a new
  call when it has a new ``id`` and continues the latest call when it has none. With no id
  at all, an entry bringing a ``name`` and arguments starts a new call once the arguments of
  the call it would continue already form a whole JSON value (whole calls sent with
  neither id nor index).
* **id.** The first non-empty id wins; repeats are ignored. A call that never gets one is
  given ``call_<hex>`` once, so its events and its final `ToolCall` agree.
* **name.** An empty name is ignored (it never wipes a real one). A name equal to the one
  collected so far is a repeat and is ignored; any other name is a fragment and is
  appended (providers that stream names in pieces).
* **arguments.** A string is a fragment; a JSON object (or array) is the whole arguments.
* **events.** `ToolCallStarted` is emitted once per call: as soon as both its id and name
  are known, and at the latest with its first argument fragment (with a generated id and
  the name known so far). Each argument fragment then gives a `ToolArgumentsDelta`. The
  ``index`` of both events is the call's position in order of appearance (0, 1, …), which is
  unique even when the provider's indexes are missing or collide.

`finish` builds the `ToolCall` values, ordered by the provider's index (order of appearance
for calls without one). Fragments are joined once there, so the work is linear in the
total argument length.

Whether a call's arguments already form a whole JSON value (the id-less rule above) is kept
by `_Shape`, which scans each fragment once (strings, escapes and nesting, across fragment
boundaries). The scan is lazy: fragments are only stored as they arrive, and the ones not yet
scanned are scanned when the question is asked, which only an entry without an id that
brings a name does; an ordinary stream never pays for it. The text is joined and parsed at
most once per call, when its outermost brace closes. A stream of fragments that each end in
``}`` therefore costs linear work, where re-joining and re-parsing per fragment was quadratic. Arguments
nested deeper than `MAX_ARGUMENT_DEPTH` are an error the model reads, never a crash.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from domain.events import ToolArgumentsDelta, ToolCallStarted
from domain.messages import ToolCall

__all__ = ["MAX_ARGUMENT_DEPTH", "ToolCallAccumulator", "new_call_id", "parse_arguments"]

MAX_ARGUMENT_DEPTH = 64
"""Tool arguments nested deeper than this are refused (a hostile model could crash a JSON
encoder or decoder with thousands of levels)."""

_TOO_DEEP = f"the arguments are nested more than {MAX_ARGUMENT_DEPTH} levels deep; send a flatter object"


def new_call_id() -> str:
    """A fresh id for a tool call the provider sent without one: ``call_<24 hex digits>``."""
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse a tool call's argument text into an object.

    Returns:
        ``(arguments, None)`` when the text is a JSON object (or blank, meaning no
        arguments), else ``({}, reason)`` with a reason a model can act on.
    """
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except RecursionError:
        return {}, _TOO_DEEP
    except ValueError as exc:
        reason = getattr(exc, "msg", str(exc))
        position = getattr(exc, "pos", None)
        # json says "Unterminated string starting at" and gives the position apart.
        joint = " " if reason.endswith(" at") else " at "
        where = f"{joint}character {position}" if position is not None else ""
        return {}, f"the arguments are not valid JSON ({reason}{where})"
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, not {type(value).__name__}"
    if _deeper_than(value, MAX_ARGUMENT_DEPTH):
        return {}, _TOO_DEEP
    return value, None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


_STRUCTURE = re.compile(r'["\\{}\[\]]')


class _Shape:
    """The shape of argument text fed so far: whether it is one whole JSON object or array.

    Each fragment is scanned once, for quotes, backslashes and brackets only; the state
    (inside a string, after a backslash, the nesting depth) carries across fragments.
    """

    __slots__ = ("broken", "depth", "ended", "escape", "in_string", "started")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.started = False
        self.ended = False
        self.broken = False

    def feed(self, text: str) -> None:
        if self.broken:
            return
        skip = 0 if self.escape else -1  # the position of a character escaped by a backslash
        self.escape = False
        if self.ended or not self.started:
            stripped = text.lstrip()
            if stripped and self.ended:
                self.broken = True  # something after the whole value: not one JSON value
                return
            if stripped and stripped[0] not in "{[":
                self.broken = True  # a bare scalar: never what a tool call's arguments are
                return
        for match in _STRUCTURE.finditer(text):
            at = match.start()
            if at == skip:
                continue
            char = match.group()
            if self.in_string:
                if char == "\\":
                    skip = at + 1
                elif char == '"':
                    self.in_string = False
                continue
            if self.ended:
                self.broken = True
                return
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
                self.started = True
            else:
                self.depth -= 1
                if self.depth < 0:
                    self.broken = True
                    return
                if self.depth == 0:
                    self.ended = True
        if skip == len(text):
            self.escape = True


class _Call:
    __slots__ = (
        "announced",
        "id",
        "name",
        "object_arguments",
        "ordinal",
        "parts",
        "scanned",
        "shape",
        "too_deep",
        "valid",
        "wire_index",
    )

    def __init__(self, ordinal: int, wire_index: int | None) -> None:
        self.ordinal = ordinal
        self.wire_index = wire_index
        self.id: str | None = None
        self.name = ""
        self.parts: list[str] = []
        self.scanned = 0  # how many of `parts` the shape has seen
        self.object_arguments: Any = None
        self.announced = False
        self.shape = _Shape()
        self.valid: bool | None = None  # the one parse of the text, once its shape is whole
        self.too_deep = False

    def has_arguments(self) -> bool:
        return bool(self.parts) or self.object_arguments is not None

    def is_complete(self) -> bool:
        """Whether the arguments so far are already a whole JSON value (nothing can follow)."""
        if self.object_arguments is not None and not self.parts:
            return True
        shape = self.shape
        parts = self.parts
        while self.scanned < len(parts) and not shape.broken:
            shape.feed(parts[self.scanned])
            self.scanned += 1
        if shape.broken or not shape.ended:
            return False
        if self.valid is None:
            # Only whitespace can follow without breaking the shape, so this one parse stays true.
            try:
                json.loads("".join(self.parts))
            except (ValueError, RecursionError):
                self.valid = False
            else:
                self.valid = True
        return self.valid

    def ensure_id(self) -> str:
        if self.id is None:
            self.id = new_call_id()
        return self.id


def _index_of(entry: Mapping[str, Any]) -> int | None:
    index = entry.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _brings_arguments(function: Mapping[str, Any]) -> bool:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        return bool(arguments.strip())
    return isinstance(arguments, Mapping | list)


class ToolCallAccumulator:
    """Collects the tool calls of one streamed reply; see the module docstring for the rules."""

    __slots__ = ("_by_id", "_by_index", "_calls")

    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._by_id: dict[str, _Call] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def feed(self, delta_tool_calls: Any) -> list[ToolCallStarted | ToolArgumentsDelta]:
        """Take one chunk's ``delta.tool_calls`` (a list, a single object or ``None``).

        Entries that are not objects are ignored. Returns the events the entries caused.
        """
        if not delta_tool_calls:
            return []
        # Parsed JSON gives plain lists and dicts: test for those first, since an ABC
        # isinstance check costs more than the rest of a fragment's handling.
        entries: Sequence[Any]
        if type(delta_tool_calls) is list:
            entries = delta_tool_calls
        elif isinstance(delta_tool_calls, Mapping):
            entries = [delta_tool_calls]
        elif isinstance(delta_tool_calls, list | tuple):
            entries = delta_tool_calls
        else:
            return []
        events: list[ToolCallStarted | ToolArgumentsDelta] = []
        for entry in entries:
            if type(entry) is dict or isinstance(entry, Mapping):
                self._feed_entry(entry, events)
        return events

    def _slot(
        self, entry: Mapping[str, Any], function: Mapping[str, Any], call_id: str | None, name: str | None
    ) -> _Call:
        if call_id is not None and call_id in self._by_id:
            return self._by_id[call_id]
        index = _index_of(entry)
        if index is not None:
            existing = self._by_index.get(index)
            if existing is not None and not self._starts_new(existing, function, call_id, name):
                return existing
        elif call_id is None and self._calls:
            latest = self._calls[-1]
            if not self._starts_new(latest, function, call_id, name):
                return latest
        call = _Call(len(self._calls), index)
        self._calls.append(call)
        if index is not None:
            self._by_index[index] = call
        return call

    @staticmethod
    def _starts_new(
        existing: _Call, function: Mapping[str, Any], call_id: str | None, name: str | None
    ) -> bool:
        """Whether an entry that matched ``existing`` by index (or by coming next) opens a new call.

        A new id with a name, once ``existing`` has an id and arguments (providers that number
        every parallel call ``0``); or, with no id at all, a name with arguments once the
        arguments of ``existing`` are already a whole JSON value (providers that send whole
        calls with neither id nor index).
        """
        if name is None or not existing.has_arguments():
            return False
        if call_id is not None:
            return existing.id is not None
        return _brings_arguments(function) and existing.is_complete()

    def _feed_entry(
        self, entry: Mapping[str, Any], events: list[ToolCallStarted | ToolArgumentsDelta]
    ) -> None:
        function = entry.get("function")
        if type(function) is not dict and not isinstance(function, Mapping):
            function = entry  # a flat {"name": …, "arguments": …} entry
        call_id = _text_or_none(entry.get("id"))
        name = _text_or_none(function.get("name"))
        call = self._slot(entry, function, call_id, name)
        if call_id is not None and call.id is None:
            call.id = call_id
            self._by_id[call_id] = call
        if name is not None and name != call.name:
            call.name += name
        if not call.announced and call.id is not None and call.name:
            events.append(ToolCallStarted(index=call.ordinal, id=call.id, name=call.name))
            call.announced = True
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            if not arguments:
                return
            fragment = arguments
            call.parts.append(arguments)
        elif isinstance(arguments, Mapping | list):
            if _deeper_than(arguments, MAX_ARGUMENT_DEPTH):
                fragment = "{}"
                call.too_deep = True
            else:
                fragment = json.dumps(arguments, ensure_ascii=False)
            call.object_arguments = arguments
        else:
            return
        if not call.announced:
            events.append(ToolCallStarted(index=call.ordinal, id=call.ensure_id(), name=call.name))
            call.announced = True
        events.append(ToolArgumentsDelta(index=call.ordinal, fragment=fragment))

    def finish(self) -> tuple[ToolCall, ...]:
        """The calls collected so far, ordered by index, with their arguments parsed.

        Calling it does not change the accumulator, so it also serves for a partial
        response when a stream fails midway.
        """
        ordered = sorted(
            self._calls,
            key=lambda c: (c.wire_index if c.wire_index is not None else c.ordinal, c.ordinal),
        )
        return tuple(self._build(call) for call in ordered)

    @staticmethod
    def _build(call: _Call) -> ToolCall:
        call_id = call.ensure_id()
        if call.too_deep and not call.parts:
            return ToolCall(id=call_id, name=call.name, raw_arguments="", parse_error=_TOO_DEEP)
        if call.object_arguments is not None and not call.parts:
            value = call.object_arguments
            if isinstance(value, Mapping):
                return ToolCall(id=call_id, name=call.name, arguments=dict(value))
            raw = json.dumps(value, ensure_ascii=False)
            return ToolCall(
                id=call_id,
                name=call.name,
                raw_arguments=raw,
                parse_error=f"the arguments must be a JSON object, not {type(value).__name__}",
            )
        raw = "".join(call.parts)
        arguments, error = parse_arguments(raw)
        if error is None:
            return ToolCall(id=call_id, name=call.name, arguments=arguments)
        return ToolCall(id=call_id, name=call.name, raw_arguments=raw, parse_error=error)
