"""OllamaSettings: the OLLAMA_* variables, their defaults, and clear errors for bad values."""

from __future__ import annotations

import pytest

from adapters.llm.ollama import OllamaSettings
from domain.errors import ConfigError


def test_defaults_point_at_a_local_server() -> None:
    settings = OllamaSettings.from_env({})
    assert settings == OllamaSettings()
    assert (settings.base_url, settings.model, settings.timeout) == (
        "http://localhost:11434",
        "llama3.1",
        120.0,
    )
    assert settings.keep_alive is None
    assert settings.pull_if_missing is False
    assert settings.model_settings() == {"model": "llama3.1", "timeout": 120.0}


def test_every_variable_is_read() -> None:
    settings = OllamaSettings.from_env(
        {
            "OLLAMA_BASE_URL": "http://gpu-box:11434/",
            "OLLAMA_MODEL": "qwen3:8b",
            "OLLAMA_TIMEOUT": "300",
            "OLLAMA_KEEP_ALIVE": "10m",
            "OLLAMA_PULL_IF_MISSING": "yes",
            "OLLAMA_MAX_RETRIES": "0",
            "OLLAMA_IDLE_TIMEOUT": "45",
        }
    )
    assert settings.base_url == "http://gpu-box:11434"
    assert settings.model == "qwen3:8b"
    assert settings.timeout == 300.0
    assert settings.keep_alive == "10m"
    assert settings.pull_if_missing is True
    assert settings.max_retries == 0
    assert settings.idle_timeout == 45.0


def test_blank_values_take_the_defaults() -> None:
    assert OllamaSettings.from_env({"OLLAMA_MODEL": "  ", "OLLAMA_BASE_URL": ""}) == OllamaSettings()


@pytest.mark.parametrize(
    ("raw", "sent"),
    [("3600", 3600), ("-1", -1), ("0", 0), ("1.5", 1.5), ("5m", "5m"), ("1h30m", "1h30m"), ("-1s", "-1s")],
)
def test_keep_alive_numbers_are_sent_as_seconds(raw: str, sent: object) -> None:
    assert OllamaSettings.from_env({"OLLAMA_KEEP_ALIVE": raw}).keep_alive == sent


@pytest.mark.parametrize(
    ("environ", "phrase"),
    [
        ({"OLLAMA_BASE_URL": "localhost:11434"}, "OLLAMA_BASE_URL.*not an http"),
        ({"OLLAMA_BASE_URL": "ftp://host"}, "not an http"),
        ({"OLLAMA_BASE_URL": "http://localhost:11434/v1"}, "server root \\(http://localhost:11434\\)"),
        ({"OLLAMA_BASE_URL": "http://localhost:11434/api/"}, "server root"),
        ({"OLLAMA_TIMEOUT": "soon"}, "OLLAMA_TIMEOUT='soon' is not a number"),
        ({"OLLAMA_TIMEOUT": "0"}, "OLLAMA_TIMEOUT must be a positive"),
        ({"OLLAMA_TIMEOUT": "nan"}, "OLLAMA_TIMEOUT must be a positive"),
        ({"OLLAMA_IDLE_TIMEOUT": "-3"}, "OLLAMA_IDLE_TIMEOUT must be a positive"),
        ({"OLLAMA_MAX_RETRIES": "two"}, "OLLAMA_MAX_RETRIES"),
        ({"OLLAMA_MAX_RETRIES": "-1"}, "OLLAMA_MAX_RETRIES must be 0 or more"),
        ({"OLLAMA_PULL_IF_MISSING": "maybe"}, "OLLAMA_PULL_IF_MISSING"),
        ({"OLLAMA_KEEP_ALIVE": "forever"}, "OLLAMA_KEEP_ALIVE='forever' is not a duration; use e.g. 10m"),
        ({"OLLAMA_KEEP_ALIVE": "5 minutes"}, "OLLAMA_KEEP_ALIVE"),
        ({"OLLAMA_KEEP_ALIVE": "inf"}, "OLLAMA_KEEP_ALIVE"),
    ],
)
def test_bad_values_are_config_errors_naming_the_variable(environ: dict[str, str], phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        OllamaSettings.from_env(environ)


def test_a_proxy_path_prefix_is_kept() -> None:
    assert (
        OllamaSettings(base_url="https://llm.example.com/ollama/").base_url
        == "https://llm.example.com/ollama"
    )


@pytest.mark.parametrize(
    "url", ["https://me:s3cret-pw@llm.example.com:8443", "https://me:s3cret-pw@llm.example.com/v1"]
)
def test_a_user_or_password_in_the_url_is_refused_without_showing_it(url: str) -> None:
    # httpx would send them as Basic auth and echo the header in its errors (issue 9).
    with pytest.raises(ConfigError, match="OLLAMA_BASE_URL") as caught:
        OllamaSettings(base_url=url)
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(ConfigError, match="OLLAMA_BASE_URL"):
        OllamaSettings.from_env({"OLLAMA_BASE_URL": url})
