"""A `DriverProfile` answers model limits by id the way every backend names its models."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.model_config import DEFAULT_CONTEXT_LIMIT, DriverProfile, ModelLimits, unsupported_settings

SMALL = ModelLimits(context=8192, max_output=4096)
BIG = ModelLimits(context=128_000, max_output=16_384)
PROFILE = DriverProfile(driver="d", limits={"gpt-4": SMALL, "gpt-4o": BIG, "Org/Model-7B": SMALL})


def test_ids_match_exactly_without_suffix_or_by_dated_prefix_case_insensitively() -> None:
    assert PROFILE.limits_for("gpt-4o") == BIG
    assert PROFILE.limits_for("GPT-4O") == BIG
    assert PROFILE.limits_for("org/model-7b:fastest") == SMALL
    assert PROFILE.limits_for("gpt-4o-2024-08-06") == BIG  # the longest prefix wins
    assert PROFILE.limits_for("gpt-4-0613") == SMALL
    assert PROFILE.limits_for("gpt-4.5-preview") is None  # only at a "-" boundary
    assert PROFILE.limits_for("") is None
    assert DriverProfile(driver="empty").limits_for("gpt-4") is None


def test_context_limit_prefers_the_config_then_the_table_then_the_default() -> None:
    assert PROFILE.context_limit("gpt-4o", 1000) == 1000
    assert PROFILE.context_limit("gpt-4o") == 128_000
    assert PROFILE.context_limit("unknown") == DEFAULT_CONTEXT_LIMIT
    assert PROFILE.context_limit("unknown", default=200_000) == 200_000


def test_unsupported_settings_carry_the_usual_warning() -> None:
    assert unsupported_settings("d", "top_k", "seed") == {
        "top_k": "top_k is not supported by d and was ignored",
        "seed": "seed is not supported by d and was ignored",
    }


@given(
    known=st.sampled_from(["gpt-4", "gpt-4o", "Org/Model-7B"]),
    dated=st.one_of(st.just(""), st.from_regex(r"-[0-9]{4}(-[0-9]{2}){2}", fullmatch=True)),
    suffix=st.text(alphabet="abc:-0123456789", max_size=8),
    upper=st.booleans(),
)
def test_case_dates_and_suffixes_never_change_the_answer(
    known: str, dated: str, suffix: str, upper: bool
) -> None:
    model = f"{known}{dated}"
    model = model.upper() if upper else model
    assert PROFILE.limits_for(f"{model}:{suffix}") == PROFILE.limits_for(known) is not None
