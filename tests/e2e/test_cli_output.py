"""The pieces of ``cw`` output: the exit-code table, the error line, the printer, the JSON shape."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.progress import Progress

from adapters.cli.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    error_line,
    exit_code_for,
    scrub,
)
from adapters.cli.models import _PullDisplay
from adapters.cli.render import StreamPrinter, message_json, model_json, run_json
from domain import errors
from domain.errors import (
    AgentError,
    AuthenticationError,
    ConfigError,
    ContextLengthExceededError,
    LLMTimeoutError,
    RateLimitError,
    TruncatedStreamError,
    UnknownBackendError,
)
from domain.events import (
    ResponseCompleted,
    RunEnded,
    RunStatus,
    TextDelta,
    ThinkingDelta,
    ToolExecutionFinished,
    ToolExecutionStarted,
)
from domain.messages import AIResponse, ChatMessage, FinishReason, ToolCall, ToolResult, Usage
from domain.model_config import AIModel, ModelPullProgress
from tests.e2e.conftest import RUN_JSON_FIELDS
from tests.strategies import ai_models, ai_responses, conversations, pull_progress, usages

SECRET = "hf_" + "abcdef" * 6


def _all_error_classes() -> list[type[AgentError]]:
    return [
        value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, AgentError)
    ]


def test_every_error_class_has_its_own_listed_code() -> None:
    missing = [cls.__name__ for cls in _all_error_classes() if cls not in EXIT_CODES]
    assert missing == []


def test_codes_are_distinct_except_where_a_subclass_means_the_same() -> None:
    codes = [code for cls, code in EXIT_CODES.items() if cls is not UnknownBackendError]
    assert len(codes) == len(set(codes))
    assert all(code not in (0, 2) for code in EXIT_CODES.values())


def test_most_specific_code_wins() -> None:
    assert exit_code_for(ContextLengthExceededError("x")) == EXIT_CODES[ContextLengthExceededError]
    assert exit_code_for(TruncatedStreamError("x")) != exit_code_for(errors.StreamError("x"))
    assert exit_code_for(UnknownBackendError("nope", ["fake"])) == EXIT_CODES[ConfigError]
    assert exit_code_for(errors.RunCancelledError("x")) == EXIT_INTERRUPTED


def test_an_unlisted_subclass_takes_its_parents_code() -> None:
    class CustomAuthError(AuthenticationError):
        pass

    assert exit_code_for(CustomAuthError("x")) == EXIT_CODES[AuthenticationError]


def test_a_foreign_exception_is_unexpected() -> None:
    assert exit_code_for(ValueError("boom")) == EXIT_UNEXPECTED


def test_error_line_is_one_line_and_scrubbed() -> None:
    error = AuthenticationError(f"the key {SECRET} was refused;\n  check HUGGINGFACE_API_KEY\n")
    line = error_line(error, [SECRET])
    assert "\n" not in line
    assert SECRET not in line
    assert line == "cw: error: the key *** was refused; check HUGGINGFACE_API_KEY"


def test_rate_limit_line_says_when_to_retry() -> None:
    assert "retry after 30 s" in error_line(RateLimitError("slow down", retry_after=30.0))


def test_timeout_line_keeps_the_adapter_message() -> None:
    error = LLMTimeoutError("no data for 60 s; raise HUGGINGFACE_TIMEOUT", kind="idle", seconds=60)
    assert error_line(error).endswith("raise HUGGINGFACE_TIMEOUT")


def test_scrub_replaces_longest_secret_first() -> None:
    assert scrub("a-b-c a-b", ["a-b", "a-b-c"]) == "*** ***"


def _printer(**options: bool) -> tuple[StreamPrinter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(file=err, force_terminal=False, width=200)
    return StreamPrinter(out, console, **options), out, err


def _ended(content: str = "done") -> RunEnded:
    call = ToolCall(id="call_1", name="read", arguments={"file_path": "a.txt"})
    messages = (
        ChatMessage.system("be brief"),
        ChatMessage.user("hi"),
        ChatMessage(role="assistant", content="", tool_calls=(call,), thinking="hmm"),
        ChatMessage.tool(call, "1\tHello"),
        ChatMessage.assistant(content),
    )
    response = AIResponse(
        content=content,
        finish_reason=FinishReason.STOP,
        usage=Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
        model="m",
    )
    return RunEnded(
        status=RunStatus.COMPLETED,
        conversation_id="c",
        messages=messages,
        response=response,
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        turns=2,
    )


def test_printer_streams_answer_to_out_and_the_rest_to_err() -> None:
    printer, out, err = _printer()
    call = ToolCall(id="call_1", name="read", arguments={"file_path": "a.txt"})
    for event in (
        ThinkingDelta(text="let me look"),
        TextDelta(text="Reading"),
        ResponseCompleted(response=AIResponse(content="Reading", tool_calls=(call,))),
        ToolExecutionStarted(call=call),
        ToolExecutionFinished(result=ToolResult(call_id="call_1", name="read", content="1\tHello")),
        TextDelta(text="Héllo "),
        TextDelta(text="wörld"),
        _ended("Héllo wörld"),
    ):
        printer.handle(event)
    assert out.getvalue() == "Reading\nHéllo wörld\n"
    assert "let me look" in err.getvalue()
    assert 'read({"file_path": "a.txt"})' in err.getvalue()
    assert "read: 1 Hello" in err.getvalue()


def test_printer_without_stream_prints_the_final_answer_once() -> None:
    printer, out, _ = _printer(stream=False)
    printer.handle(TextDelta(text="partial"))
    printer.handle(_ended("the answer"))
    assert out.getvalue() == "the answer\n"


def test_printer_in_json_mode_keeps_stdout_empty() -> None:
    printer, out, _ = _printer(answer=False)
    printer.handle(TextDelta(text="x"))
    printer.handle(_ended())
    assert out.getvalue() == ""


def test_run_json_has_exactly_the_documented_shape() -> None:
    data = run_json(_ended())
    assert set(data) == RUN_JSON_FIELDS
    # the final response's usage, and the run's total (RunEnded.usage) beside it
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert data["total_usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert data["thinking"] is None
    assert data["finish_reason"] == "stop"
    assert [message["role"] for message in data["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assistant, tool = data["messages"][2], data["messages"][3]
    assert assistant["tool_calls"] == [{"id": "call_1", "name": "read", "arguments": {"file_path": "a.txt"}}]
    assert assistant["thinking"] == "hmm"
    assert tool["tool_call_id"] == "call_1"
    assert tool["name"] == "read"
    json.dumps(data)  # serialisable as is


def test_invalid_tool_arguments_keep_their_raw_text() -> None:
    call = ToolCall(id="c", name="read", raw_arguments="{oops", parse_error="Expecting property name")
    data = message_json(ChatMessage.assistant(tool_calls=(call,)))
    assert data["tool_calls"][0]["raw_arguments"] == "{oops"


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.MAX_TURNS])
def test_run_json_without_a_response_is_still_complete(status: RunStatus) -> None:
    data = run_json(RunEnded(status=status, conversation_id="c"))
    assert data["content"] == ""
    assert data["tool_calls"] == []


# --- properties: output survives any stream split and any run -----------------------------------


@given(
    text=st.text(min_size=1, max_size=80), cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=8)
)
def test_streamed_answer_is_the_text_whatever_the_split(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(cut for cut in cuts if cut <= len(text))})
    printer, out, _ = _printer()
    for start, end in itertools.pairwise(bounds):
        printer.handle(TextDelta(text=text[start:end]))
    printer.handle(
        RunEnded(status=RunStatus.COMPLETED, conversation_id="c", response=AIResponse(content=text))
    )
    expected = text if text.endswith("\n") else text + "\n"
    assert out.getvalue() == expected


@settings(max_examples=30)  # generating whole conversations is the slow part; 30 cover the shapes
@given(messages=conversations, response=ai_responses(), usage=usages)
def test_run_json_is_valid_json_for_any_run(
    messages: tuple[ChatMessage, ...], response: AIResponse, usage: Usage
) -> None:
    ended = RunEnded(
        status=RunStatus.COMPLETED, conversation_id="c", messages=messages, response=response, usage=usage
    )
    data = json.loads(json.dumps(run_json(ended), ensure_ascii=False))
    assert data["content"] == response.content
    assert len(data["messages"]) == len(messages)
    assert [call["id"] for call in data["tool_calls"]] == [call.id for call in response.tool_calls]
    for sent, message in zip(data["messages"], messages, strict=True):
        assert sent["role"] == str(message.role)
        assert ("tool_call_id" in sent) == (message.tool_call_id is not None)


@given(model=ai_models)
def test_model_json_is_valid_json_for_any_model(model: AIModel) -> None:
    data = json.loads(json.dumps(model_json(model)))
    assert data["name"] == model.name


@given(updates=st.lists(pull_progress, max_size=12))
def test_pull_display_accepts_any_progress_sequence(updates: list[ModelPullProgress]) -> None:
    progress = Progress(console=Console(file=io.StringIO(), force_terminal=False), auto_refresh=False)
    display = _PullDisplay(progress)
    for update in updates:
        display(update)
    assert len(progress.tasks) <= len(updates)
