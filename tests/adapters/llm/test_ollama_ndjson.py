"""The NDJSON decoder gives the same values whatever the split of the bytes into reads."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm._ndjson import NDJSONDecoder, render_ndjson
from domain.errors import StreamError, TruncatedStreamError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def decode_in_reads(data: bytes, cuts: list[int]) -> list[Any]:
    decoder = NDJSONDecoder()
    values: list[Any] = []
    start = 0
    for cut in sorted(set(cuts)):
        values += decoder.feed(data[start:cut])
        start = cut
    values += decoder.feed(data[start:])
    values += decoder.close()
    return values


@given(
    values=st.lists(json_values, max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
    blank_lines=st.booleans(),
    data=st.data(),
)
def test_any_split_into_reads_gives_the_values_of_the_unsplit_stream(
    values: list[Any], newline: str, blank_lines: bool, data: st.DataObject
) -> None:
    stream = render_ndjson(values, newline=newline)
    if blank_lines:
        stream = stream.replace(newline.encode(), (newline + " " + newline).encode())
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=12))
    assert decode_in_reads(stream, cuts) == values


def test_every_single_byte_split_of_a_realistic_stream() -> None:
    lines = [
        {"model": "llama3.1", "message": {"role": "assistant", "content": "Grüße, 世界 🎉"}, "done": False},
        {"model": "llama3.1", "message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 3},
    ]
    stream = render_ndjson(lines, newline="\r\n")
    for cut in range(len(stream) + 1):
        assert decode_in_reads(stream, [cut]) == lines, cut
    # and one byte at a time
    assert decode_in_reads(stream, list(range(len(stream)))) == lines


def test_a_multibyte_character_split_across_reads_survives() -> None:
    encoded = json.dumps({"t": "é"}, ensure_ascii=False).encode() + b"\n"
    split = encoded.index("é".encode()) + 1  # between the two bytes of é
    decoder = NDJSONDecoder()
    assert decoder.feed(encoded[:split]) == []
    assert decoder.feed(encoded[split:]) == [{"t": "é"}]


def test_a_non_json_line_is_a_stream_error_quoting_the_line() -> None:
    decoder = NDJSONDecoder(backend="ollama")
    with pytest.raises(StreamError, match=r"not valid JSON.*<html>") as caught:
        decoder.feed(b'{"ok": 1}\n<html>proxy error</html>\n')
    assert caught.value.backend == "ollama"


def test_a_very_long_bad_line_is_quoted_truncated() -> None:
    with pytest.raises(StreamError) as caught:
        NDJSONDecoder().feed(b"x" * 10_000 + b"\n")
    assert len(str(caught.value)) < 400
    assert "10000 characters" in str(caught.value)


def test_invalid_utf8_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="UTF-8"):
        NDJSONDecoder().feed(b'{"a": "\xff"}\n')


def test_an_unterminated_last_line_is_parsed_at_close() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b": 2}') == [{"a": 1}]
    assert decoder.close() == [{"b": 2}]


def test_a_last_line_cut_in_the_middle_is_a_truncated_stream() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"a": 1}\n{"b": ')
    with pytest.raises(TruncatedStreamError, match="middle of a JSON line"):
        decoder.close()


def test_a_line_without_newline_beyond_the_cap_is_refused() -> None:
    decoder = NDJSONDecoder(max_line_bytes=100)
    decoder.feed(b"{" + b" " * 60)
    with pytest.raises(StreamError, match="exceeded 100 bytes"):
        decoder.feed(b" " * 60)


def test_decoding_is_linear_in_the_number_of_lines() -> None:
    line = render_ndjson([{"message": {"content": "token"}, "done": False}])

    def seconds(count: int) -> float:
        data = line * count
        started = time.perf_counter()
        decode_in_reads(data, list(range(0, len(data), 7)))  # reads that split lines everywhere
        return time.perf_counter() - started

    small, large = seconds(2_000), seconds(20_000)
    assert large < small * 25  # 10x the input; quadratic behaviour would be ~100x
