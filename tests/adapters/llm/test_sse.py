"""The SSE decoder follows the event-stream rules whatever way the bytes are split."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._sse import ServerSentEvent, SSEDecoder, render_sse


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def decode_split(data: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    points = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    return decode(*(data[a:b] for a, b in itertools.pairwise(points)))


def test_data_lines_with_each_newline_style() -> None:
    for newline in ("\n", "\r\n", "\r"):
        stream = f"data: one{newline}{newline}data: two{newline}{newline}".encode()
        assert [e.data for e in decode(stream)] == ["one", "two"], repr(newline)


def test_data_without_space_and_only_one_space_removed() -> None:
    assert [e.data for e in decode(b"data:a\n\ndata:  b\n\n")] == ["a", " b"]


def test_several_data_lines_are_joined_with_newlines() -> None:
    assert decode(b'data: {\ndata: "a": 1\ndata: }\n\n') == [ServerSentEvent(data='{\n"a": 1\n}')]


def test_comments_are_ignored() -> None:
    assert decode(b": keep-alive\n\n:\ndata: x\n: between\n\n") == [ServerSentEvent(data="x")]


def test_event_id_and_retry_fields() -> None:
    events = decode(b"event: error\nid: 7\nretry: 1500\ndata: boom\n\ndata: next\n\n")
    assert events == [
        ServerSentEvent(data="boom", event="error", id="7", retry=1500),
        # the event name and retry belong to one event; the last id persists
        ServerSentEvent(data="next", event="message", id="7", retry=None),
    ]


def test_id_with_nul_and_non_numeric_retry_are_ignored() -> None:
    events = decode(b"id: 1\n\nid: a\x00b\nretry: 1s\ndata: x\n\n")
    assert events == [ServerSentEvent(data="x", id="1", retry=None)]


def test_unknown_fields_and_a_field_without_colon() -> None:
    # "data" alone is a data line with an empty value
    assert decode(b"foo: bar\ndata\n\n") == [ServerSentEvent(data="")]


def test_blank_lines_without_data_dispatch_nothing_and_reset_event_name() -> None:
    assert decode(b"\n\n\nevent: ping\n\ndata: x\n\n") == [ServerSentEvent(data="x")]


def test_pending_event_is_dispatched_at_end_of_stream() -> None:
    # Providers often omit the last blank line, or even the last newline.
    assert decode(b"data: a\n\ndata: [DONE]\n") == [ServerSentEvent(data="a"), ServerSentEvent(data="[DONE]")]
    assert decode(b"data: a\n\ndata: [DONE]") == [ServerSentEvent(data="a"), ServerSentEvent(data="[DONE]")]
    assert decode(b"data:[DONE]") == [ServerSentEvent(data="[DONE]")]


def test_cr_and_lf_in_different_reads_make_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [ServerSentEvent(data="a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="b")]
    assert decoder.close() == []


def test_cr_followed_by_another_line_in_next_read() -> None:
    assert decode(b"data: a\r", b"data: b\r", b"\r") == [ServerSentEvent(data="a\nb")]


def test_multibyte_character_split_across_reads() -> None:
    raw = "data: héllo 世界 🎉\n\n".encode()
    start = raw.index("🎉".encode())
    assert decode(raw[: start + 1], raw[start + 1 : start + 3], raw[start + 3 :]) == [
        ServerSentEvent(data="héllo 世界 🎉")
    ]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode(b"data: a\xffb\n\n") == [ServerSentEvent(data="a\ufffdb")]


def test_byte_order_mark_at_start_is_dropped_even_when_split() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent(data="x")]
    assert decode(b"\xef\xbb\xbfdata: x\n\n") == [ServerSentEvent(data="x")]


def test_empty_reads_and_close_twice() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"") == []
    assert decoder.close() == [ServerSentEvent(data="x")]
    assert decoder.close() == []


def test_render_writes_fields_and_rejects_bad_input() -> None:
    events = [ServerSentEvent(data="a\nb", event="delta", id="3", retry=10), ServerSentEvent(data="")]
    assert render_sse(events) == b"event: delta\nid: 3\nretry: 10\ndata: a\ndata: b\n\ndata: \n\n"
    assert render_sse(events, newline="\r\n").count(b"\r\n") == 8
    with pytest.raises(ValueError, match="newline"):
        render_sse(events, newline="\n\n")
    with pytest.raises(ValueError, match="event name"):
        render_sse([ServerSentEvent(data="x", event="a\nb")])


def test_a_huge_line_fed_byte_by_byte_stays_linear() -> None:
    line = b"data: " + b"x" * 300_000 + b"\n\n"
    decoder = SSEDecoder()
    started = time.perf_counter()
    events = [event for i in range(len(line)) for event in decoder.feed(line[i : i + 1])]
    elapsed = time.perf_counter() - started
    assert events == [ServerSentEvent(data="x" * 300_000)]
    assert elapsed < 5.0, f"byte-by-byte decoding took {elapsed:.1f}s: the buffer is being re-scanned"


def test_twenty_thousand_events_in_many_reads() -> None:
    stream = render_sse(ServerSentEvent(data=f'{{"n": {i}}}') for i in range(20_000))
    decoder = SSEDecoder()
    count = sum(len(decoder.feed(stream[i : i + 1000])) for i in range(0, len(stream), 1000))
    assert count + len(decoder.close()) == 20_000


# --- properties ----------------------------------------------------------------------------

_no_newline = st.text(max_size=12).filter(lambda s: "\r" not in s and "\n" not in s)
_event = st.builds(
    ServerSentEvent,
    data=st.text(max_size=30),
    event=st.just("message") | _no_newline.filter(bool),
    id=st.none() | _no_newline.filter(lambda s: "\x00" not in s),
    retry=st.none() | st.integers(0, 10**6),
)
_newlines = st.sampled_from(["\n", "\r\n", "\r"])


def _expected(events: list[ServerSentEvent]) -> list[ServerSentEvent]:
    """What a decoder gives back: data newlines normalised to LF, the last id persisting."""
    last_id = None
    out = []
    for event in events:
        last_id = event.id if event.id is not None else last_id
        out.append(
            ServerSentEvent(
                data=re.sub(r"\r\n|\r", "\n", event.data), event=event.event, id=last_id, retry=event.retry
            )
        )
    return out


@given(
    events=st.lists(_event, max_size=6), newline=_newlines, cuts=st.lists(st.integers(0, 2000), max_size=30)
)
def test_any_split_gives_the_events_that_were_rendered(
    events: list[ServerSentEvent], newline: str, cuts: list[int]
) -> None:
    data = render_sse(events, newline=newline)
    assert decode(data) == _expected(events)
    assert decode_split(data, cuts) == _expected(events)


@given(events=st.lists(_event, min_size=1, max_size=4), newline=_newlines, data=st.data())
def test_byte_by_byte_and_cuts_at_awkward_places(
    events: list[ServerSentEvent], newline: str, data: st.DataObject
) -> None:
    raw = render_sse(events, newline=newline)
    # Cut between every CR and LF, right after "data", and inside multi-byte characters.
    awkward = [m.start() + 1 for m in re.finditer(rb"\r\n", raw)]
    awkward += [m.start() + 2 for m in re.finditer(rb"data", raw)]
    awkward += [i for i, byte in enumerate(raw) if 0x80 <= byte < 0xC0]
    chosen = data.draw(st.lists(st.sampled_from(awkward), max_size=10) if awkward else st.just([]))
    assert decode_split(raw, chosen) == decode(raw)
    assert decode(*(raw[i : i + 1] for i in range(len(raw)))) == decode(raw)


@given(
    body=st.lists(
        st.one_of(
            st.text(max_size=10).map(lambda s: f"data:{s}"),
            st.text(max_size=10).map(lambda s: f": {s}"),
            st.just(""),
            st.just("event: x"),
            st.just("id: 1"),
        ),
        max_size=12,
    ),
    newline=_newlines,
    cuts=st.lists(st.integers(0, 500), max_size=20),
)
def test_arbitrary_line_soup_is_split_invariant(body: list[str], newline: str, cuts: list[int]) -> None:
    raw = newline.join(body).encode()
    assert decode_split(raw, cuts) == decode(raw)
