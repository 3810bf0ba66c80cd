"""The examples the docs show run as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_embedding_example_runs_async_and_sync(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "embed_custom_tool.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert '[get_weather] {"city": "Paris", "temperature": 21' in out
    assert "completed after 2 model calls" in out
    assert out.count("It is 21 °C and sunny in Paris.") == 2
