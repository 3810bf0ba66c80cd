"""<think> blocks in streamed content become thinking, however the tags are split."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._thinking import ThinkTagSplitter
from domain.events import TextDelta, ThinkingDelta


def run(*pieces: str) -> list[TextDelta | ThinkingDelta]:
    splitter = ThinkTagSplitter()
    events = [event for piece in pieces for event in splitter.feed(piece)]
    return events + splitter.flush()


def joined(events: list[TextDelta | ThinkingDelta]) -> tuple[str, str]:
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    return text, thinking


def test_plain_text_passes_straight_through() -> None:
    assert run("Hello", " world") == [TextDelta(text="Hello"), TextDelta(text=" world")]


def test_a_whole_block_in_one_chunk() -> None:
    assert run("<think>plan</think>Answer") == [ThinkingDelta(text="plan"), TextDelta(text="Answer")]


def test_tags_split_across_chunks() -> None:
    events = run("<th", "ink>step 1", " step 2</thi", "nk>", "Done")
    assert joined(events) == ("Done", "step 1 step 2")
    assert all(e.text for e in events)


def test_thinking_is_emitted_as_it_comes_not_at_the_end() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("<think>abc") == [ThinkingDelta(text="abc")]
    assert splitter.inside


def test_whitespace_after_the_closing_tag_is_dropped() -> None:
    assert joined(run("<think>x</think>", "\n\n", "  Answer\n")) == ("Answer\n", "x")


def test_a_lone_angle_bracket_is_text() -> None:
    assert joined(run("a < b", " and c <", "d")) == ("a < b and c <d", "")
    assert run("1 <")[0] == TextDelta(text="1 ")
    assert joined(run("x <thi")) == ("x <thi", "")  # held back, then flushed as text


def test_an_unclosed_block_is_thinking() -> None:
    assert joined(run("<think>still going", "</thi")) == ("", "still going</thi")


def test_several_blocks() -> None:
    assert joined(run("a<think>1</think>b<think>2</think>c")) == ("abc", "12")


_free = st.text(max_size=40).filter(lambda s: "<think>" not in s and "</think>" not in s)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c for c in cuts if 0 < c < len(text))})
    return [text[a:b] for a, b in itertools.pairwise(points)]


@given(text=_free, cuts=st.lists(st.integers(0, 60), max_size=12))
def test_text_without_tags_is_unchanged_by_any_split(text: str, cuts: list[int]) -> None:
    assert joined(run(*_split(text, cuts))) == (text, "")


@given(thinking=_free, answer=_free, cuts=st.lists(st.integers(0, 100), max_size=15))
def test_any_split_of_a_block_separates_thinking_and_answer(
    thinking: str, answer: str, cuts: list[int]
) -> None:
    content = f"<think>{thinking}</think>{answer}"
    assert joined(run(*_split(content, cuts))) == (answer.lstrip(), thinking)
