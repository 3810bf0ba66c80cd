"""The normaliser merges three layers, refuses what cannot be meant and clamps what is out of range."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm.anthropic.profile import PROFILE as ANTHROPIC
from adapters.llm.fake_spec import PROFILE as FAKE
from adapters.llm.huggingface.profile import PROFILE as HUGGINGFACE
from adapters.llm.ollama.profile import PROFILE as OLLAMA
from adapters.llm.openai.profile import PROFILE as OPENAI
from application.model_config import CONFIG_KEYS, ModelConfigNormalizer
from domain.errors import ConfigError
from domain.model_config import DEFAULT_CONTEXT_LIMIT, DriverProfile, ModelLimits, NormalizedModelConfig

PROFILES = {
    "huggingface": HUGGINGFACE,
    "ollama": OLLAMA,
    "openai": OPENAI,
    "anthropic": ANTHROPIC,
    "claude": ANTHROPIC,  # the claude backend runs the anthropic driver
    "fake": FAKE,
}


class _Normalizer:
    """The normaliser, given a profile by driver name (as the registry gives it a backend's)."""

    def normalize(
        self, driver: str, backend: dict[str, Any], overrides: dict[str, Any]
    ) -> NormalizedModelConfig:
        profile = PROFILES.get(driver) or DriverProfile(driver=driver)
        return ModelConfigNormalizer().normalize(profile, backend, overrides)


NORMALIZER = _Normalizer()


def limits_for(driver: str, model: str) -> ModelLimits | None:
    return PROFILES[driver].limits_for(model) if driver in PROFILES else None


def context_limit_for(driver: str, model: str, config: NormalizedModelConfig | None = None) -> int:
    return PROFILES[driver].context_limit(model, config.context_length if config else None)


def test_huggingface_defaults_come_from_the_driver_profile() -> None:
    config = NORMALIZER.normalize("huggingface", {}, {})
    assert config.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert (config.temperature, config.max_tokens, config.top_p) == (0.7, 4096, 0.9)
    assert (config.frequency_penalty, config.presence_penalty, config.timeout) == (0.0, 0.0, 120.0)
    assert config.context_length is None
    assert config.warnings == ()


def test_agent_overrides_beat_backend_settings_which_beat_driver_defaults() -> None:
    config = NORMALIZER.normalize(
        "huggingface",
        {"model": "Qwen/Qwen2.5-72B-Instruct", "temperature": 0.2, "timeout": 30},
        {"temperature": 1.1},
    )
    assert config.model == "Qwen/Qwen2.5-72B-Instruct"
    assert config.temperature == 1.1
    assert config.timeout == 30.0
    assert config.top_p == 0.9


def test_none_never_overrides() -> None:
    config = NORMALIZER.normalize("huggingface", {"temperature": 0.3, "model": None}, {"temperature": None})
    assert config.temperature == 0.3
    assert config.model == "meta-llama/Llama-3.1-8B-Instruct"


def test_unknown_override_key_is_a_config_error_listing_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        NORMALIZER.normalize("huggingface", {}, {"temprature": 0.5})
    assert "'temprature'" in str(caught.value)
    assert "temperature" in str(caught.value).split("valid keys:")[1]
    assert "warnings" not in CONFIG_KEYS


def test_backend_settings_may_carry_adapter_keys() -> None:
    config = NORMALIZER.normalize("huggingface", {"api_key": "hf_secret", "base_url": "http://x"}, {})
    assert "hf_secret" not in repr(config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("temperature", "hot"),
        ("temperature", True),
        ("temperature", math.nan),
        ("max_tokens", 1.5),
        ("max_tokens", "4096"),
        ("top_k", False),
        ("stop", 3),
        ("stop", ["ok", 4]),
        ("timeout", 0),
        ("context_length", 0),
        ("reasoning", "yes"),
        ("reasoning_effort", "extreme"),
        ("tool_choice", "sometimes"),
        ("response_format", 5),
        ("model", 42),
    ],
)
def test_wrong_types_are_config_errors_naming_the_key_and_the_source(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        NORMALIZER.normalize("huggingface", {}, {key: value})
    assert key in str(caught.value)
    assert "agent's model_config" in str(caught.value)


def test_a_wrong_backend_setting_names_the_backend_settings() -> None:
    with pytest.raises(ConfigError, match="huggingface backend settings"):
        NORMALIZER.normalize("huggingface", {"timeout": "soon"}, {})


def test_no_model_anywhere_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no model"):
        NORMALIZER.normalize("custom", {}, {"model": "   "})


def test_out_of_range_values_are_clamped_with_a_warning() -> None:
    config = NORMALIZER.normalize(
        "huggingface",
        {},
        {
            "temperature": 3,
            "top_p": -0.5,
            "frequency_penalty": 9,
            "presence_penalty": -9,
            "max_tokens": 0,
            "stop": ["a", "b", "c", "d", "e", "f"],
        },
    )
    assert config.temperature == 2.0
    assert config.top_p == 0.0
    assert (config.frequency_penalty, config.presence_penalty) == (2.0, -2.0)
    assert config.max_tokens == 1
    assert config.stop == ("a", "b", "c", "d")
    joined = "\n".join(config.warnings)
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "stop"):
        assert key in joined
    assert len(config.warnings) == 6


def test_claude_temperature_is_clamped_to_one_and_penalties_are_dropped() -> None:
    config = NORMALIZER.normalize("claude", {}, {"temperature": 1.5, "frequency_penalty": 0.5})
    assert config.temperature == 1.0
    assert config.frequency_penalty is None
    assert any("frequency_penalty is not supported" in warning for warning in config.warnings)


def test_the_anthropic_profile_clamps_drops_and_raises_to_its_minimums() -> None:
    overrides = {"temperature": 1.5, "frequency_penalty": 0.5, "thinking_budget": 10}
    anthropic = NORMALIZER.normalize("anthropic", {}, overrides)
    assert anthropic == NORMALIZER.normalize("claude", {}, overrides)
    assert (anthropic.model, anthropic.max_tokens) == ("claude-sonnet-4-5", 4096)
    assert (anthropic.temperature, anthropic.frequency_penalty, anthropic.thinking_budget) == (
        1.0,
        None,
        1024,
    )
    assert limits_for("anthropic", "claude-sonnet-4-5-20250929") == limits_for("claude", "claude-sonnet-4-5")
    assert context_limit_for("anthropic", "claude-3-opus-20240229") == 200_000


def test_top_k_is_dropped_with_a_warning_for_huggingface() -> None:
    config = NORMALIZER.normalize("huggingface", {}, {"top_k": 40})
    assert config.top_k is None
    assert config.warnings == ("top_k is not supported by huggingface and was ignored",)


def test_top_k_is_dropped_for_openai() -> None:
    config = NORMALIZER.normalize("openai", {}, {"top_k": 40})
    assert config.top_k is None
    assert config.warnings == ("top_k is not supported by openai and was ignored",)


@pytest.mark.parametrize("driver", ["openai", "anthropic", "ollama"])
def test_a_provider_outside_the_hf_router_is_dropped_with_a_warning(driver: str) -> None:
    config = NORMALIZER.normalize(driver, {}, {"provider": "fastest"})
    assert config.provider is None
    assert config.warnings == (f"provider is not supported by {driver} and was ignored",)


def test_max_tokens_and_context_are_lowered_to_a_known_models_limits() -> None:
    config = NORMALIZER.normalize(
        "openai", {"model": "gpt-4"}, {"max_tokens": 50_000, "context_length": 10**6}
    )
    assert config.max_tokens == 8192
    assert config.context_length == 8192
    assert len(config.warnings) == 2


def test_shorthands_for_stop_response_format_and_tool_choice() -> None:
    config = NORMALIZER.normalize(
        "huggingface", {}, {"stop": "END", "response_format": "json", "tool_choice": "Required"}
    )
    assert config.stop == ("END",)
    assert config.response_format == {"type": "json_object"}
    assert config.tool_choice == "required"


def test_whole_floats_are_accepted_for_integer_settings() -> None:
    assert NORMALIZER.normalize("huggingface", {}, {"max_tokens": 512.0}).max_tokens == 512


def test_the_profile_is_all_the_normaliser_knows_about_a_driver() -> None:
    normalizer = ModelConfigNormalizer()
    mine = DriverProfile(
        driver="mine",
        defaults={"model": "m1", "max_tokens": 10},
        ranges={"top_p": (0.1, 0.5)},
        unsupported={"seed": "seed means nothing to mine"},
        limits={"m1": ModelLimits(context=100, max_output=20)},
    )
    config = normalizer.normalize(mine, {}, {"top_p": 0.9, "seed": 3, "context_length": 500})
    assert (config.model, config.max_tokens, config.top_p, config.seed) == ("m1", 10, 0.5, None)
    assert config.context_length == 100
    assert "seed means nothing to mine" in config.warnings
    # The same settings on an empty profile: no defaults, no narrowing, no limits.
    bare = DriverProfile(driver="openai")
    assert normalizer.normalize(bare, {"model": "gpt-4"}, {"max_tokens": 50_000}).max_tokens == 50_000


def test_limits_match_provider_suffixes_tags_and_dated_ids() -> None:
    assert limits_for("huggingface", "Qwen/Qwen2.5-72B-Instruct:fastest") == limits_for(
        "huggingface", "Qwen/Qwen2.5-72B-Instruct"
    )
    assert limits_for("ollama", "llama3.1:8b") is not None
    assert limits_for("openai", "gpt-4o-2024-08-06") == limits_for("openai", "gpt-4o")
    assert limits_for("openai", "gpt-4o-mini") is not None
    assert limits_for("openai", "gpt-4.5-preview") is None
    claude = limits_for("claude", "claude-3-5-sonnet-20241022")
    assert claude is not None
    assert claude.context == 200_000
    assert limits_for("nobody", "gpt-4") is None


def test_context_limit_prefers_config_then_table_then_default() -> None:
    assert context_limit_for("huggingface", "meta-llama/Llama-3.1-8B-Instruct") == 131_072
    assert context_limit_for("huggingface", "google/gemma-2-2b-it:nebius") == 8192
    assert context_limit_for("huggingface", "someone/unknown") == DEFAULT_CONTEXT_LIMIT == 4096
    config = NormalizedModelConfig(model="someone/unknown", context_length=1000)
    assert context_limit_for("huggingface", "someone/unknown", config) == 1000
    assert context_limit_for("openai", "gpt-4") == 8192
    assert context_limit_for("openai", "o3-mini") == 200_000


# --- properties ---------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
maybe = st.one_of(st.none(), numbers)


@given(
    temperature=maybe,
    top_p=maybe,
    frequency_penalty=maybe,
    presence_penalty=maybe,
    max_tokens=st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**6)),
    stop=st.lists(st.text(min_size=1, max_size=5), max_size=8),
    driver=st.sampled_from(["huggingface", "ollama", "openai", "claude", "fake"]),
)
def test_every_normalised_value_is_within_its_range(
    temperature: float | None,
    top_p: float | None,
    frequency_penalty: float | None,
    presence_penalty: float | None,
    max_tokens: int | None,
    stop: list[str],
    driver: str,
) -> None:
    overrides = {
        "temperature": temperature,
        "top_p": top_p,
        "frequency_penalty": frequency_penalty,
        "presence_penalty": presence_penalty,
        "max_tokens": max_tokens,
        "stop": stop,
    }
    config = NORMALIZER.normalize(driver, {}, overrides)
    high_temperature = 1.0 if driver == "claude" else 2.0
    assert config.temperature is None or 0.0 <= config.temperature <= high_temperature
    assert config.top_p is None or 0.0 <= config.top_p <= 1.0
    for penalty in (config.frequency_penalty, config.presence_penalty):
        assert penalty is None or -2.0 <= penalty <= 2.0
    assert config.max_tokens is None or config.max_tokens >= 1
    assert config.stop == tuple(stop[:4])
    # A value that had to change is always explained.
    if temperature is not None and config.temperature != temperature:
        assert any("temperature" in warning for warning in config.warnings)
    if len(stop) > 4:
        assert any("stop" in warning for warning in config.warnings)


layer = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.one_of(st.none(), st.floats(min_value=0, max_value=2)),
        "top_p": st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
        "seed": st.one_of(st.none(), st.integers(min_value=0, max_value=2**31)),
        "timeout": st.one_of(st.none(), st.floats(min_value=0.5, max_value=600)),
        "provider": st.one_of(st.none(), st.sampled_from(["fastest", "cheapest", "nebius"])),
    },
)


@given(backend=layer, overrides=layer)
def test_merge_takes_the_last_layer_that_sets_a_value(
    backend: dict[str, Any], overrides: dict[str, Any]
) -> None:
    config = NORMALIZER.normalize("huggingface", backend, overrides)
    defaults = {"temperature": 0.7, "top_p": 0.9, "seed": None, "timeout": 120.0, "provider": None}
    for key, default in defaults.items():
        expected = overrides.get(key)
        if expected is None:
            expected = backend.get(key)
        if expected is None:
            expected = default
        assert getattr(config, key) == expected
    assert config.warnings == ()


@given(overrides=layer)
def test_normalising_a_normalised_config_changes_nothing(overrides: dict[str, Any]) -> None:
    first = NORMALIZER.normalize("huggingface", {}, overrides)
    again = NORMALIZER.normalize(
        "huggingface",
        {},
        {key: getattr(first, key) for key in CONFIG_KEYS},
    )
    assert again == first
