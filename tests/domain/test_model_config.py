"""Invariants of configs, agents and pull progress."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model_config import Agent, ModelPullProgress, NormalizedModelConfig


def test_stop_accepts_a_single_string_or_a_sequence() -> None:
    assert NormalizedModelConfig(model="m", stop="END").stop == ("END",)
    assert NormalizedModelConfig(model="m", stop=["a", "b"]).stop == ("a", "b")


def test_more_than_four_stop_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 4"):
        NormalizedModelConfig(model="m", stop=["a", "b", "c", "d", "e"])


def test_model_id_is_required() -> None:
    with pytest.raises(ValueError, match="model id"):
        NormalizedModelConfig(model=" ")


def test_agent_needs_a_name_and_normalises_tools() -> None:
    with pytest.raises(ValueError):
        Agent(name="")
    agent = Agent(name="helper", tools=["read", "grep"])
    assert agent.tools == ("read", "grep")


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_pull_percentage_is_between_0_and_100(total: int, completed: int) -> None:
    percentage = ModelPullProgress(status="pulling", total=total, completed=completed).percentage
    assert percentage is not None
    assert 0.0 <= percentage <= 100.0


def test_pull_percentage_is_unknown_without_sizes() -> None:
    assert ModelPullProgress(status="verifying sha256 digest").percentage is None
