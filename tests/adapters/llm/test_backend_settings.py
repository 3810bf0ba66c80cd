"""`HTTPBackendSettings`: the shared reading (through the cattrs converter) and checks of HTTP backends."""

from __future__ import annotations

import pytest

from adapters.llm.openai.settings import OpenAISettings
from adapters.llm.vllm.settings import VLLMSettings
from domain.errors import ConfigError


def test_from_env_parses_the_declared_variables_through_the_converter() -> None:
    settings = VLLMSettings.from_env(
        {"VLLM_TIMEOUT": " 45 ", "VLLM_MAX_RETRIES": "0", "VLLM_BASE_URL": "http://127.0.0.1:9000/v1/"}
    )
    assert (settings.timeout, settings.max_retries, settings.base_url) == (
        45.0,
        0,
        "http://127.0.0.1:9000/v1",
    )
    assert settings.model == VLLMSettings.default_model  # unset: the subclass's default


def test_other_variables_with_the_prefix_are_left_alone() -> None:
    # vLLM's own server reads VLLM_* variables; they are not ours to refuse.
    assert VLLMSettings.from_env({"VLLM_USE_V1": "1"}) == VLLMSettings()


def test_from_mapping_refuses_an_unknown_key_naming_it() -> None:
    with pytest.raises(ConfigError, match="unknown vLLM settings timeuot; the known ones are api_key"):
        VLLMSettings.from_mapping({"timeuot": "45"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OPENAI_TIMEOUT": "soon"}, "OPENAI_TIMEOUT must be a number of seconds, not 'soon'"),
        ({"OPENAI_MAX_RETRIES": "1.5"}, "OPENAI_MAX_RETRIES must be a whole number, not '1.5'"),
        # Out of range: refused when read, so the runtime stops at start, not at the first call.
        ({"OPENAI_MAX_RETRIES": "-1"}, "OPENAI_MAX_RETRIES must be 0 or more, not '-1'"),
        ({"OPENAI_TIMEOUT": "0"}, "OPENAI_TIMEOUT must be a positive number of seconds, not '0'"),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenAISettings.from_env(environ)


def test_a_key_that_cannot_travel_in_a_header_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError, match="OPENAI_ORGANIZATION") as caught:
        OpenAISettings.from_env({"OPENAI_ORGANIZATION": "org-sec\x01ret"})
    assert "sec" not in str(caught.value)


def test_repr_masks_the_key_and_a_password_in_the_url() -> None:
    settings = VLLMSettings(api_key="vllm-secret-key", base_url="https://user:hunter2@gpu.example.com/v1")
    shown = repr(settings)
    assert "vllm-secret-key" not in shown
    assert "hunter2" not in shown
    assert "'***'" in shown


def test_a_password_with_an_at_sign_in_a_url_that_does_not_parse_is_never_shown() -> None:
    settings = VLLMSettings(base_url="https://user:hun@ter2@[::1/v1")  # the bracket is never closed
    with pytest.raises(ConfigError, match="VLLM_BASE_URL must be an http") as caught:
        settings.validate()
    assert "ter2" not in str(caught.value)
    assert "ter2" not in repr(settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (VLLMSettings(base_url="ftp://gpu.example.com"), "VLLM_BASE_URL must be an http"),
        (OpenAISettings(base_url="https://api.example.com/v1"), "OPENAI_API_KEY is not set"),
        (OpenAISettings(api_key="sk-x", base_url="http://api.example.com/v1"), "plain http"),
        (VLLMSettings(timeout=float("nan")), "VLLM_TIMEOUT must be a positive"),
        (VLLMSettings(max_retries=-1), "VLLM_MAX_RETRIES must be 0 or more"),
    ],
)
def test_one_validation_for_every_http_backend(settings: VLLMSettings | OpenAISettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings.validate()


def test_a_loopback_server_may_go_without_a_key() -> None:
    VLLMSettings().validate()
    OpenAISettings(base_url="http://localhost:8000/v1").validate()


def test_the_model_setting_fields_join_the_backend_settings_when_set() -> None:
    assert OpenAISettings().backend_settings() == {"model": "gpt-4o", "timeout": 120.0}
    effort = OpenAISettings(reasoning_effort="low").backend_settings()
    assert effort == {"model": "gpt-4o", "timeout": 120.0, "reasoning_effort": "low"}
