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
    assert settings.backend_settings() == {"model": "llama3.1", "timeout": 120.0}


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
        ({"OLLAMA_BASE_URL": "localhost:11434"}, "OLLAMA_BASE_URL must be an http\\(s\\) URL"),
        ({"OLLAMA_BASE_URL": "ftp://host"}, "must be an http\\(s\\) URL"),
        ({"OLLAMA_BASE_URL": "http://localhost:11434/v1"}, "server root \\(http://localhost:11434\\)"),
        ({"OLLAMA_BASE_URL": "http://localhost:11434/api/"}, "server root"),
        ({"OLLAMA_TIMEOUT": "soon"}, "OLLAMA_TIMEOUT must be a number of seconds, not 'soon'"),
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


@pytest.mark.parametrize(
    ("raw", "pull"), [("1", True), ("On", True), ("YES", True), ("off", False), ("0", False)]
)
def test_pull_if_missing_reads_yes_and_no_words(raw: str, pull: bool) -> None:
    assert OllamaSettings.from_env({"OLLAMA_PULL_IF_MISSING": raw}).pull_if_missing is pull


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown Ollama settings keepalive; the known ones are .*keep_alive"
    ):
        OllamaSettings.from_mapping({"keepalive": "10m"})
    assert OllamaSettings.from_mapping({"keep_alive": "10m", "pull_if_missing": "yes"}) == OllamaSettings(
        keep_alive="10m", pull_if_missing=True
    )


def test_unrelated_ollama_variables_of_the_server_are_not_read() -> None:
    # `ollama serve` reads OLLAMA_HOST, OLLAMA_MODELS…; they share the environment with us.
    assert OllamaSettings.from_env({"OLLAMA_NUM_PARALLEL": "4", "OLLAMA_HOST": "0.0.0.0"}) == OllamaSettings()


@pytest.mark.parametrize("url", ["http://localhost:11434", "http://127.0.0.1:11434", "https://ollama.com"])
def test_an_optional_key_is_kept_and_masked(url: str) -> None:
    settings = OllamaSettings.from_env({"OLLAMA_API_KEY": " ollama-key-1234 ", "OLLAMA_BASE_URL": url})
    assert settings.api_key == "ollama-key-1234"
    assert "ollama-key-1234" not in repr(settings)
    assert "api_key='***'" in repr(settings)
    assert "ollama-key-1234" in settings.secrets  # scrubbed from errors


def test_the_key_is_never_sent_over_plain_http_to_another_machine() -> None:
    environ = {"OLLAMA_API_KEY": "ollama-key-1234", "OLLAMA_BASE_URL": "http://gpu-box:11434"}
    with pytest.raises(ConfigError, match=r"plain http to gpu-box.*https:// OLLAMA_BASE_URL") as caught:
        OllamaSettings.from_env(environ)
    assert "ollama-key-1234" not in str(caught.value)
    with pytest.raises(ConfigError, match="plain http"):
        OllamaSettings(base_url="http://gpu-box:11434", api_key="ollama-key-1234")
    assert OllamaSettings(base_url="http://gpu-box:11434").api_key is None  # no key: plain http is fine


@pytest.mark.parametrize("key", ["k3y\nX-Injected: 1", "k3y k3y", "clé-secrète", "k3y\x00"])
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(ConfigError, match="OLLAMA_API_KEY") as caught:
        OllamaSettings.from_env({"OLLAMA_API_KEY": key})
    assert "k3y" not in str(caught.value)
    assert "secr" not in str(caught.value)


def test_bad_clocks_are_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="OLLAMA_CONNECT_TIMEOUT must be a positive"):
        OllamaSettings(connect_timeout=0)
    with pytest.raises(ConfigError, match="OLLAMA_MODEL is empty"):
        OllamaSettings(model=" ")
    with pytest.raises(ConfigError, match="OLLAMA_IDLE_TIMEOUT must be a number of seconds, not 'soon'"):
        OllamaSettings.from_env({"OLLAMA_IDLE_TIMEOUT": "soon"})
