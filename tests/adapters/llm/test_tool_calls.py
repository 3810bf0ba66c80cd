"""Streamed tool calls reassemble exactly, whatever quirks the provider has."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._tool_calls import ToolCallAccumulator, parse_arguments
from domain.events import ToolArgumentsDelta, ToolCallStarted
from domain.messages import ToolCall
from tests.strategies import json_objects, tool_names, wire_tool_calls


def feed_all(*deltas: Any) -> tuple[ToolCallAccumulator, list[ToolCallStarted | ToolArgumentsDelta]]:
    accumulator = ToolCallAccumulator()
    events = [event for delta in deltas for event in accumulator.feed(delta)]
    return accumulator, events


def fn(index: int | None = None, *, id: str | None = None, name: str | None = None, args: Any = None) -> dict:
    entry: dict[str, Any] = {}
    if index is not None:
        entry["index"] = index
    if id is not None:
        entry["id"] = id
        entry["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    entry["function"] = function
    return entry


def test_standard_openai_stream() -> None:
    acc, events = feed_all(
        [fn(0, id="call_1", name="get_weather", args="")],
        [fn(0, args='{"lo')],
        [fn(0, args='cation": "SF"}')],
    )
    assert acc.finish() == (ToolCall(id="call_1", name="get_weather", arguments={"location": "SF"}),)
    assert events == [
        ToolCallStarted(index=0, id="call_1", name="get_weather"),
        ToolArgumentsDelta(index=0, fragment='{"lo'),
        ToolArgumentsDelta(index=0, fragment='cation": "SF"}'),
    ]


def test_id_and_name_repeated_in_every_chunk_are_not_doubled() -> None:
    acc, events = feed_all(
        [fn(0, id="call_1", name="read_file", args='{"pa')],
        [fn(0, id="call_1", name="read_file", args='th": "a"}')],
    )
    assert acc.finish() == (ToolCall(id="call_1", name="read_file", arguments={"path": "a"}),)
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 1


def test_empty_name_first_then_real_name() -> None:
    acc, events = feed_all([fn(0, id="call_1", name="")], [fn(0, name="read")], [fn(0, args="{}")])
    assert acc.finish() == (ToolCall(id="call_1", name="read"),)
    assert events[0] == ToolCallStarted(index=0, id="call_1", name="read")


def test_empty_name_on_continuation_chunks_does_not_wipe_the_name() -> None:
    acc, _ = feed_all([fn(0, id="call_1", name="grep", args='{"a"')], [fn(0, name="", args=": 1}")])
    assert acc.finish() == (ToolCall(id="call_1", name="grep", arguments={"a": 1}),)


def test_name_sent_in_fragments_is_joined() -> None:
    acc, _ = feed_all([fn(0, id="c", name="read_")], [fn(0, name="file")], [fn(0, args="{}")])
    assert acc.finish()[0].name == "read_file"


def test_missing_index_new_id_starts_a_call_and_no_id_continues_the_latest() -> None:
    acc, events = feed_all(
        [fn(id="a", name="one", args='{"x"')],
        [fn(args=": 1}")],
        [fn(id="b", name="two", args='{"y"')],
        [fn(args=": 2}")],
    )
    assert acc.finish() == (
        ToolCall(id="a", name="one", arguments={"x": 1}),
        ToolCall(id="b", name="two", arguments={"y": 2}),
    )
    assert [e.index for e in events if isinstance(e, ToolCallStarted)] == [0, 1]


def test_null_index_behaves_like_missing() -> None:
    acc, _ = feed_all(
        [{"index": None, "id": "a", "function": {"name": "f", "arguments": "{"}}],
        [{"index": None, "function": {"arguments": "}"}}],
    )
    assert acc.finish() == (ToolCall(id="a", name="f"),)


def test_parallel_interleaved_calls_by_index() -> None:
    acc, events = feed_all(
        [fn(0, id="a", name="read", args=""), fn(1, id="b", name="glob", args="")],
        [fn(1, args='{"pattern":')],
        [fn(0, args='{"path":')],
        [fn(0, args='"x"}'), fn(1, args='"*.py"}')],
    )
    assert acc.finish() == (
        ToolCall(id="a", name="read", arguments={"path": "x"}),
        ToolCall(id="b", name="glob", arguments={"pattern": "*.py"}),
    )
    assert [e for e in events if isinstance(e, ToolArgumentsDelta) and e.index == 1] == [
        ToolArgumentsDelta(index=1, fragment='{"pattern":'),
        ToolArgumentsDelta(index=1, fragment='"*.py"}'),
    ]


def test_calls_are_ordered_by_index_not_arrival() -> None:
    acc, events = feed_all(
        [fn(1, id="b", name="second", args="{}")], [fn(0, id="a", name="first", args="{}")]
    )
    assert [c.id for c in acc.finish()] == ["a", "b"]
    # event indexes follow arrival, so they are unique whatever the provider's numbering
    assert [e.index for e in events if isinstance(e, ToolCallStarted)] == [0, 1]


def test_every_parallel_call_numbered_zero_with_distinct_ids() -> None:
    acc, _ = feed_all(
        [fn(0, id="a", name="one", args='{"n": 1}')],
        [fn(0, id="b", name="two", args='{"n": 2}')],
    )
    assert acc.finish() == (
        ToolCall(id="a", name="one", arguments={"n": 1}),
        ToolCall(id="b", name="two", arguments={"n": 2}),
    )


def test_arguments_whole_or_as_an_object_and_tool_calls_as_a_single_object() -> None:
    acc, events = feed_all({"index": 0, "id": "a", "function": {"name": "f", "arguments": {"k": [1, 2]}}})
    assert acc.finish() == (ToolCall(id="a", name="f", arguments={"k": [1, 2]}),)
    assert events[-1] == ToolArgumentsDelta(index=0, fragment='{"k": [1, 2]}')
    acc, _ = feed_all([fn(0, id="b", name="g", args='{"whole": true}')])
    assert acc.finish() == (ToolCall(id="b", name="g", arguments={"whole": True}),)


def test_invalid_json_keeps_the_raw_text_and_the_reason() -> None:
    acc, _ = feed_all([fn(0, id="a", name="f", args='{"path": "x"')])
    (call,) = acc.finish()
    assert call.arguments == {}
    assert call.raw_arguments == '{"path": "x"'
    assert call.parse_error is not None
    assert "not valid JSON" in call.parse_error
    assert not call.is_valid


def test_json_that_is_not_an_object_is_an_error() -> None:
    acc, _ = feed_all([fn(0, id="a", name="f", args="[1, 2]")], [fn(1, id="b", name="g", args=["x"])])
    first, second = acc.finish()
    assert first.parse_error == "the arguments must be a JSON object, not list"
    assert first.raw_arguments == "[1, 2]"
    assert second.parse_error == "the arguments must be a JSON object, not list"


def test_no_arguments_at_all_is_an_empty_object() -> None:
    acc, events = feed_all([fn(0, id="a", name="now", args="")])
    assert acc.finish() == (ToolCall(id="a", name="now"),)
    assert events == [ToolCallStarted(index=0, id="a", name="now")]


def test_a_call_without_id_gets_one_generated_and_kept() -> None:
    acc, events = feed_all([fn(0, name="f", args='{"a": 1}')])
    started = events[0]
    assert isinstance(started, ToolCallStarted)
    assert started.id.startswith("call_")
    assert len(started.id) > 5
    assert acc.finish()[0].id == started.id
    assert acc.finish() == acc.finish()  # finish does not change the accumulator


def test_started_is_emitted_at_the_first_fragment_when_the_name_is_late() -> None:
    acc, events = feed_all([fn(0, id="a", args='{"x":')], [fn(0, name="late", args="1}")])
    assert events[0] == ToolCallStarted(index=0, id="a", name="")
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 1
    assert acc.finish() == (ToolCall(id="a", name="late", arguments={"x": 1}),)


def test_garbage_entries_are_ignored() -> None:
    acc, events = feed_all(
        None, [], "nonsense", [1, None, "x"], {"index": 0, "function": {"arguments": None}}
    )
    assert events == []
    assert len(acc.finish()) == 1  # the last entry opened a call (index 0) with no arguments


def test_parse_arguments() -> None:
    assert parse_arguments("") == ({}, None)
    assert parse_arguments("  ") == ({}, None)
    assert parse_arguments('{"a": 1}') == ({"a": 1}, None)
    assert parse_arguments("null")[1] == "the arguments must be a JSON object, not NoneType"
    assert "at character" in (parse_arguments("{nope}")[1] or "")
    assert parse_arguments('{"patt')[1] == (
        "the arguments are not valid JSON (Unterminated string starting at character 1)"
    )


# --- the property: any arguments, any fragments, any interleaving, with the quirks ----------


@st.composite
def streamed_calls(draw: st.DrawFn) -> tuple[list[ToolCall], list[list[dict[str, Any]]]]:
    """Calls and, for each feed, the delta entries a quirky provider would send."""
    calls = draw(st.lists(wire_tool_calls(), min_size=1, max_size=4, unique_by=lambda c: c.id))
    index_mode = draw(st.sampled_from(["present", "missing", "null"]))
    repeat = draw(st.booleans())
    empty_name_first = draw(st.booleans())
    as_object = draw(st.booleans())

    per_call: list[list[dict[str, Any]]] = []
    for position, call in enumerate(calls):

        def entry(*, head: bool, name: str | None = None, args: Any = None, position: int = position) -> dict:
            item: dict[str, Any] = {}
            if index_mode == "present":
                item["index"] = position
            elif index_mode == "null":
                item["index"] = None
            function: dict[str, Any] = {}
            if head or repeat:
                item["id"] = calls[position].id
                function["name"] = calls[position].name if name is None else name
            if args is not None:
                function["arguments"] = args
            item["function"] = function
            return item

        entries = []
        if empty_name_first:
            entries.append(entry(head=True, name=""))
        if as_object and call.is_valid:
            entries.append(entry(head=True, args=dict(call.arguments)))
        else:
            text = call.raw_arguments if not call.is_valid else json.dumps(dict(call.arguments))
            assert text is not None
            cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=6))))
            points = [0, *[c for c in cuts if c < len(text)], len(text)]
            fragments = [text[a:b] for a, b in itertools.pairwise(points)]
            for number, fragment in enumerate(fragments):
                entries.append(entry(head=number == 0, args=fragment))
        per_call.append(entries)

    # Interleave freely when the provider makes it unambiguous, else one call after another.
    sequence: list[dict[str, Any]] = []
    if index_mode == "present" or repeat:
        cursors = [0] * len(per_call)
        # every call is opened in order first, so the final order is the index order
        for number, entries in enumerate(per_call):
            sequence.append(entries[0])
            cursors[number] = 1
        while any(cursors[n] < len(per_call[n]) for n in range(len(per_call))):
            open_calls = [n for n in range(len(per_call)) if cursors[n] < len(per_call[n])]
            chosen = draw(st.sampled_from(open_calls))
            sequence.append(per_call[chosen][cursors[chosen]])
            cursors[chosen] += 1
    else:
        sequence = [item for entries in per_call for item in entries]

    # Group consecutive entries into feeds of one or more (a single object when alone).
    feeds: list[list[dict[str, Any]]] = []
    position = 0
    while position < len(sequence):
        size = draw(st.integers(1, 3))
        feeds.append(sequence[position : position + size])
        position += size
    return calls, feeds


@given(streamed_calls())
def test_any_fragments_and_quirks_reassemble_exactly(case: tuple[list[ToolCall], list[list[dict]]]) -> None:
    calls, feeds = case
    accumulator = ToolCallAccumulator()
    events = []
    for feed in feeds:
        events += accumulator.feed(feed[0] if len(feed) == 1 else feed)
    assert accumulator.finish() == tuple(calls)

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert len(started) == len(calls)  # exactly once per call
    assert {e.index: (e.id, e.name) for e in started} == {n: (c.id, c.name) for n, c in enumerate(calls)}
    for number, call in enumerate(calls):
        fragments = "".join(
            e.fragment for e in events if isinstance(e, ToolArgumentsDelta) and e.index == number
        )
        if call.is_valid:
            assert json.loads(fragments or "{}") == dict(call.arguments)
        else:
            assert fragments == call.raw_arguments


@given(arguments=json_objects, name=tool_names, size=st.integers(1, 7))
def test_arguments_split_into_fixed_size_fragments(arguments: dict, name: str, size: int) -> None:
    text = json.dumps(arguments, ensure_ascii=False)
    deltas = [[fn(0, id="call_x", name=name, args="")]]
    deltas += [[fn(0, args=text[i : i + size])] for i in range(0, len(text), size)]
    acc, _ = feed_all(*deltas)
    assert acc.finish() == (ToolCall(id="call_x", name=name, arguments=arguments),)


def test_whole_calls_without_id_or_index_are_separate_calls() -> None:
    acc, events = feed_all(
        [{"function": {"name": "read", "arguments": '{"file_path": "a.txt"}'}}],
        [{"function": {"name": "read", "arguments": '{"file_path": "b.txt"}'}}],
        [{"index": None, "function": {"name": "grep", "arguments": {"pattern": "x"}}}],
    )
    calls = acc.finish()
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("read", {"file_path": "a.txt"}),
        ("read", {"file_path": "b.txt"}),
        ("grep", {"pattern": "x"}),
    ]
    assert len({c.id for c in calls}) == 3
    assert [e.index for e in events if isinstance(e, ToolCallStarted)] == [0, 1, 2]


def test_every_call_numbered_zero_without_ids_splits_on_whole_arguments() -> None:
    acc, _ = feed_all(
        [fn(0, name="read", args='{"file_path": ')],
        [fn(0, name="read", args='"a.txt"}')],  # the name repeated: still the same call
        [fn(0, name="read", args=" ")],
        [fn(0, name="glob", args='{"pattern": "*.py"}')],
    )
    assert [(c.name, dict(c.arguments)) for c in acc.finish()] == [
        ("read", {"file_path": "a.txt"}),
        ("glob", {"pattern": "*.py"}),
    ]


# --- hostile streams (issue 9): linear work, bounded nesting ------------------------------------


class _CountingJSON:
    """Stands in for the module's ``json``: counts the characters it is asked to parse."""

    def __init__(self) -> None:
        self.parsed = 0

    def loads(self, text: str, *args: Any, **kwargs: Any) -> Any:
        self.parsed += len(text)
        return json.loads(text, *args, **kwargs)

    def dumps(self, value: Any, *args: Any, **kwargs: Any) -> str:
        return json.dumps(value, *args, **kwargs)


def _parse_work(fragments: int, monkeypatch: Any) -> int:
    """Characters parsed to reassemble one call sent as ``fragments`` id-less, index-less pieces."""
    import adapters.llm._tool_calls as module

    counting = _CountingJSON()
    monkeypatch.setattr(module, "json", counting)
    accumulator = ToolCallAccumulator()
    accumulator.feed([{"function": {"name": "f", "arguments": '{"a": "'}}])
    for _ in range(fragments):  # each piece ends in `}` and brings the name again
        accumulator.feed([{"function": {"name": "f", "arguments": "x}"}}])
    accumulator.feed([{"function": {"name": "f", "arguments": '"}'}}])
    (call,) = accumulator.finish()
    assert call.arguments == {"a": "x}" * fragments}
    monkeypatch.undo()
    return counting.parsed


def test_doubling_the_fragments_at_most_doubles_the_work(monkeypatch: Any) -> None:
    # Re-joining and re-parsing the arguments per fragment made 80k fragments take 23 s.
    for fragments in (1_000, 2_000, 4_000):
        assert _parse_work(2 * fragments, monkeypatch) <= 2 * _parse_work(fragments, monkeypatch) + 64


@given(st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=7))
def test_the_work_is_linear_for_any_fragment_size(fragments: int, size: int) -> None:
    import adapters.llm._tool_calls as module

    counting = _CountingJSON()
    original = module.json
    module.json = counting  # type: ignore[assignment]
    try:
        text = json.dumps({"k": "}" * fragments * size, "n": [1, {"d": "]"}]})
        accumulator = ToolCallAccumulator()
        for start in range(0, len(text), size):
            accumulator.feed([{"function": {"name": "f", "arguments": text[start : start + size]}}])
        (call,) = accumulator.finish()
    finally:
        module.json = original
    assert call.arguments == json.loads(text)
    assert counting.parsed <= 2 * len(text)  # parsed once at the end (and at most once on the way)


def test_whole_calls_without_id_or_index_are_still_told_apart() -> None:
    acc, _ = feed_all(
        [{"function": {"name": "a", "arguments": '{"x": "}\\""}'}}],
        [{"function": {"name": "b", "arguments": "{}"}}],
        [{"function": {"name": "c", "arguments": '{"y": [1, '}}],
        [{"function": {"name": "c", "arguments": "2]}"}}],
    )
    assert [(call.name, dict(call.arguments)) for call in acc.finish()] == [
        ("a", {"x": '}"'}),
        ("b", {}),
        ("c", {"y": [1, 2]}),
    ]


def test_arguments_nested_thousands_deep_are_an_error_the_model_reads_not_a_crash() -> None:
    deep = '{"a": ' * 3000 + "1" + "}" * 3000
    arguments, error = parse_arguments(deep)
    assert arguments == {}
    assert error is not None
    assert "nested" in error
    shallow_enough = '{"a": ' * 60 + "1" + "}" * 60
    assert parse_arguments(shallow_enough)[1] is None
    too_deep = '{"a": ' * 70 + "1" + "}" * 70
    assert "nested" in (parse_arguments(too_deep)[1] or "")
    acc, _ = feed_all([fn(0, id="c1", name="f", args=deep)])
    (call,) = acc.finish()
    assert call.parse_error is not None
    nested: Any = 1
    for _ in range(500):
        nested = {"a": nested}
    acc, _ = feed_all([fn(0, id="c2", name="f", args=nested)])  # an object, as Ollama sends them
    (call,) = acc.finish()
    assert call.parse_error is not None
    assert "nested" in call.parse_error
