"""Tools: schemas from signatures, argument validation, and failures the model can read."""

from __future__ import annotations

import asyncio
import enum
import json
import threading
import time
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.tool_schema import parse_docstring, validate
from application.tools import NO_OUTPUT, ToolRegistry
from domain.errors import ToolError
from domain.messages import ToolCall


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def weather(city: str, days: int = 1, unit: Unit = Unit.CELSIUS, detailed: bool | None = None) -> str:
    """Tell the weather in a city.

    Uses a made-up forecast.

    Args:
        city: the city's name,
            in English.
        days (int): how many days ahead.
        unit: the temperature unit.
        detailed: whether to add wind and rain.

    Returns:
        The forecast.
    """
    return f"{city}: sunny for {days} day(s) in {unit.value}{' (detailed)' if detailed else ''}"


def _call(name: str, arguments: dict[str, Any] | None = None, **extra: Any) -> ToolCall:
    return ToolCall(id=f"call_{name}", name=name, arguments=arguments or {}, **extra)


# --- schema generation ---------------------------------------------------------------------------


def test_schema_comes_from_hints_and_the_google_docstring() -> None:
    registry = ToolRegistry()
    definition = registry.register(weather)
    assert definition.name == "weather"
    assert definition.description == "Tell the weather in a city."
    assert definition.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city's name, in English."},
            "days": {"type": "integer", "description": "how many days ahead.", "default": 1},
            "unit": {
                "enum": ["celsius", "fahrenheit"],
                "type": "string",
                "description": "the temperature unit.",
                "default": "celsius",
            },
            "detailed": {"type": "boolean", "description": "whether to add wind and rain."},
        },
        "required": ["city"],
    }


def test_schema_for_collections_literals_and_unions() -> None:
    registry = ToolRegistry()

    def many(
        tags: list[str],
        scores: dict[str, float],
        mode: Literal["fast", "slow"],
        pair: tuple[int, int],
        anything: Any,
        either: int | str,
        maybe: list[int] | None,
    ) -> None:
        """Many kinds."""

    properties = registry.register(many).parameters["properties"]
    assert properties["tags"] == {"type": "array", "items": {"type": "string"}}
    assert properties["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert properties["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert properties["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "integer"}]
    assert properties["anything"] == {}
    assert properties["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert properties["maybe"] == {"type": "array", "items": {"type": "integer"}}
    assert registry.definitions(["many"])[0].parameters["required"] == [
        "tags",
        "scores",
        "mode",
        "pair",
        "anything",
        "either",
    ]


def test_explicit_name_description_and_parameters_win() -> None:
    registry = ToolRegistry()
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    definition = registry.register(lambda q: q, name="search-web", description="Search.", parameters=schema)
    assert (definition.name, definition.description, definition.parameters) == (
        "search-web",
        "Search.",
        schema,
    )


@pytest.mark.parametrize("name", ["", "has space", "dots.not.ok", "x" * 65, "ünïcode"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ToolError, match="invalid tool name"):
        ToolRegistry().register(weather, name=name)


def test_duplicate_names_and_unsupported_annotations_are_refused() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    with pytest.raises(ToolError, match="already registered"):
        registry.register(weather)

    def odd(when: complex) -> None: ...

    with pytest.raises(ToolError, match="parameters= explicitly"):
        registry.register(odd)
    # An explicit schema makes the annotation irrelevant.
    definition = registry.register(
        odd, parameters={"type": "object", "properties": {"when": {"type": "string"}}}
    )
    assert definition.parameters["properties"] == {"when": {"type": "string"}}
    with pytest.raises(ToolError, match="of type 'object'"):
        registry.register(odd, name="odd2", parameters={"type": "array"})


def test_the_decorator_keeps_the_function_callable() -> None:
    registry = ToolRegistry()

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @registry.tool(name="mul", timeout=5)
    async def multiply(a: int, b: int) -> int:
        return a * b

    assert add(2, 3) == 5
    assert registry.names() == ("add", "mul")
    assert registry.get("mul").timeout == 5


def test_definitions_all_or_named_and_unknown_names_raise() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    registry.register(lambda: "x", name="noop")
    assert [d.name for d in registry.definitions()] == ["weather", "noop"]
    assert [d.name for d in registry.definitions(["noop", "weather", "noop"])] == ["noop", "weather"]
    assert registry.definitions([]) == ()
    with pytest.raises(ToolError, match="registered tools: weather, noop"):
        registry.definitions(["bash"])


def test_docstring_parsing_handles_types_continuations_and_other_sections() -> None:
    parsed = parse_docstring(
        """Summary line
        continues here.

        Args:
            path (str): where.
            *args: ignored.
            limit: how many
                lines at most.

        Raises:
            ValueError: never.
        """
    )
    assert parsed.summary == "Summary line continues here."
    assert parsed.params == {"path": "where.", "args": "ignored.", "limit": "how many lines at most."}


# --- running -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_validates_converts_and_calls() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    result = await registry.run(_call("weather", {"city": "Lyon", "days": "3", "unit": "fahrenheit"}))
    assert not result.is_error
    assert result.content == "Lyon: sunny for 3 day(s) in fahrenheit"
    assert (result.call_id, result.name) == ("call_weather", "weather")


@pytest.mark.anyio
async def test_null_for_an_optional_argument_means_not_given() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    result = await registry.run(_call("weather", {"city": "Oslo", "days": None, "detailed": None}))
    assert result.content == "Oslo: sunny for 1 day(s) in celsius"


@pytest.mark.anyio
async def test_unknown_tool_is_an_error_result_listing_the_tools() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    result = await registry.run(_call("bash", {"command": "ls"}))
    assert result.is_error
    assert "no tool named 'bash'" in result.content
    assert "weather" in result.content


@pytest.mark.anyio
async def test_invalid_json_is_reported_with_the_raw_text() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    call = _call("weather", raw_arguments='{"city": "Par', parse_error="unterminated string")
    result = await registry.run(call)
    assert result.is_error
    assert "not a valid JSON object (unterminated string)" in result.content
    assert '{"city": "Par' in result.content


@pytest.mark.anyio
async def test_schema_violations_are_all_listed_with_the_schema() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    result = await registry.run(_call("weather", {"days": "many", "unit": "kelvin"}))
    assert result.is_error
    assert "city: required property is missing" in result.content
    assert "days: expected integer, got 'many'" in result.content
    assert "unit: must be one of 'celsius', 'fahrenheit', got 'kelvin'" in result.content
    assert '"required": ["city"]' in result.content


@pytest.mark.anyio
async def test_exceptions_become_error_text_never_empty() -> None:
    registry = ToolRegistry()

    @registry.tool
    def boom() -> str:
        raise RuntimeError("disk on fire")

    @registry.tool
    def silent() -> str:
        raise ValueError

    @registry.tool
    def refused() -> str:
        raise ToolError("the file is locked; try again later")

    assert (
        await registry.run(_call("boom"))
    ).content == "Error: tool 'boom' raised RuntimeError: disk on fire"
    assert "ValueError: no details" in (await registry.run(_call("silent"))).content
    refusal = await registry.run(_call("refused"))
    assert refusal.is_error
    assert refusal.content == "Error: tool 'refused' failed: the file is locked; try again later"


@pytest.mark.anyio
async def test_empty_results_are_described_and_values_json_encoded() -> None:
    registry = ToolRegistry()
    registry.register(lambda: "", name="empty")
    registry.register(lambda: None, name="none")
    registry.register(lambda: {"ok": True, "unit": Unit.CELSIUS, "n": [1, 2]}, name="data")
    assert (await registry.run(_call("empty"))).content == NO_OUTPUT
    assert (await registry.run(_call("none"))).content == NO_OUTPUT
    content = (await registry.run(_call("data"))).content
    assert json.loads(content) == {"ok": True, "unit": "celsius", "n": [1, 2]}


@pytest.mark.anyio
async def test_sync_tools_run_in_a_worker_thread_and_async_tools_on_the_loop() -> None:
    registry = ToolRegistry()
    loop_thread = threading.get_ident()
    registry.register(lambda: str(threading.get_ident() != loop_thread), name="sync_tool")

    async def async_tool() -> str:
        return str(threading.get_ident() == loop_thread)

    registry.register(async_tool)
    assert (await registry.run(_call("sync_tool"))).content == "True"
    assert (await registry.run(_call("async_tool"))).content == "True"


@pytest.mark.anyio
async def test_timeouts_are_error_results_for_async_and_sync_tools() -> None:
    registry = ToolRegistry(default_timeout=0.05)

    async def slow_async() -> str:
        await asyncio.sleep(10)
        return "late"

    def slow_sync() -> str:
        time.sleep(0.3)
        return "late"

    registry.register(slow_async)
    registry.register(slow_sync)
    started = time.monotonic()
    results = await asyncio.gather(registry.run(_call("slow_async")), registry.run(_call("slow_sync")))
    assert time.monotonic() - started < 0.25
    for result in results:
        assert result.is_error
        assert "did not finish within 0.05 seconds" in result.content


@pytest.mark.anyio
@pytest.mark.parametrize("default_timeout", [None, 5.0])
async def test_a_timeout_error_raised_by_the_tool_itself_is_its_own_failure(
    default_timeout: float | None,
) -> None:
    registry = ToolRegistry(default_timeout=default_timeout)

    def fetch() -> str:
        raise TimeoutError("the upstream socket timed out")

    async def fetch_async() -> str:
        raise TimeoutError("the upstream socket timed out")

    registry.register(fetch)
    registry.register(fetch_async)
    for name in ("fetch", "fetch_async"):
        result = await registry.run(_call(name))
        assert result.is_error
        assert result.content == f"Error: tool {name!r} raised TimeoutError: the upstream socket timed out"


@pytest.mark.anyio
async def test_long_output_is_cut_with_a_note() -> None:
    registry = ToolRegistry(max_output_chars=10)
    registry.register(lambda: "x" * 25, name="long")
    assert (await registry.run(_call("long"))).content == "x" * 10 + "\n… (output cut: 15 more characters)"


@pytest.mark.anyio
async def test_cancellation_propagates() -> None:
    registry = ToolRegistry()
    started = asyncio.Event()

    async def forever() -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    registry.register(forever)
    task = asyncio.create_task(registry.run(_call("forever")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- the validator -------------------------------------------------------------------------------


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "ratio": {"type": "number", "exclusiveMinimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "kind": {"const": "fixed"},
        "nested": {
            "type": "object",
            "properties": {"flag": {"type": "boolean"}},
            "required": ["flag"],
            "additionalProperties": False,
        },
        "nullable": {"type": ["string", "null"]},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def test_validator_accepts_a_valid_object_and_coerces_leniently() -> None:
    value, problems = validate(
        {"name": "abc", "count": 3.0, "ratio": "0.5", "nested": {"flag": "true"}, "nullable": None}, SCHEMA
    )
    assert problems == []
    assert value == {"name": "abc", "count": 3, "ratio": 0.5, "nested": {"flag": True}, "nullable": None}


def test_validator_reports_every_problem_with_its_path() -> None:
    _, problems = validate(
        {
            "name": "ABCDEFG",
            "count": 11,
            "ratio": 0,
            "tags": ["a", 2, "c"],
            "kind": "other",
            "nested": {"extra": 1},
            "surprise": True,
        },
        SCHEMA,
    )
    assert set(problems) == {
        "name: must have at most 5 characters, got 7",
        "name: must match the pattern '^[a-z]+$'",
        "count: must be at most 10, got 11",
        "ratio: must be more than 0, got 0",
        "tags: takes at most 2 items, got 3",
        "tags[1]: expected string, got 2",
        "kind: must be 'fixed', got 'other'",
        "nested.extra: unexpected property (known properties: flag)",
        "nested.flag: required property is missing",
        "surprise: unexpected property (known properties: name, count, ratio, tags, kind, nested, nullable)",
    }


def test_validator_rejects_booleans_as_numbers_and_non_objects() -> None:
    assert validate({"name": "a", "count": True}, SCHEMA)[1] == ["count: expected integer, got True"]
    assert validate([1], SCHEMA)[1] == ["arguments: expected object, got [1]"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(value=json_values)
def test_validator_is_total_and_every_problem_names_a_path(value: Any) -> None:
    converted, problems = validate(value, SCHEMA)
    for problem in problems:
        assert ": " in problem
        assert problem.strip()
    if not problems:
        assert isinstance(converted, dict)
        assert "name" in converted


@given(
    city=st.text(min_size=1, max_size=10),
    days=st.integers(min_value=-5, max_value=50),
    unit=st.sampled_from(["celsius", "fahrenheit"]),
)
def test_generated_schemas_accept_what_the_function_accepts(city: str, days: int, unit: str) -> None:
    registry = ToolRegistry()
    definition = registry.register(weather)
    value, problems = validate({"city": city, "days": days, "unit": unit}, definition.parameters)
    assert problems == []
    assert value == {"city": city, "days": days, "unit": unit}
