"""Settings come from the environment over `.env`, only when asked, and never show a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.settings import Settings, is_secret, read_environment, redact
from domain.errors import ConfigError

KEY = "hf_" + "s3cr3t" * 6


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.load({})
    assert settings.default_backend == "huggingface"
    assert settings.environment == "production"
    assert settings.env_file is None


def test_ai_backend_and_cw_env_are_read() -> None:
    settings = Settings.load({"AI_BACKEND": " ollama ", "CW_ENV": "TEST"})
    assert settings.default_backend == "ollama"
    assert settings.environment == "test"


def test_blank_ai_backend_means_the_default() -> None:
    assert Settings.load({"AI_BACKEND": "  "}).default_backend == "huggingface"


def test_unknown_environment_is_a_config_error_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="production, test"):
        Settings.load({"CW_ENV": "staging"})


def test_env_file_values_are_read_but_never_override_real_variables(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("AI_BACKEND=ollama\nOLLAMA_MODEL=qwen3\nHUGGINGFACE_MODEL=from-file\n")
    settings = Settings.load({"CW_ENV_FILE": str(env_file), "HUGGINGFACE_MODEL": "from-env"})
    assert settings.default_backend == "ollama"
    assert settings.get("OLLAMA_MODEL") == "qwen3"
    assert settings.get("HUGGINGFACE_MODEL") == "from-env"
    assert settings.env_file == env_file


def test_dotenv_in_current_folder_is_read_for_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("AI_BACKEND=fake\nCW_ENV=test\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings.load()
    assert settings.default_backend == "fake"
    assert settings.environment == "test"
    monkeypatch.setenv("AI_BACKEND", "openai")
    assert Settings.load().default_backend == "openai"


def test_an_explicit_environ_ignores_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("AI_BACKEND=fake\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.load({}).default_backend == "huggingface"


def test_missing_env_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load({"CW_ENV_FILE": str(tmp_path / "nope.env")})


def test_a_line_that_does_not_parse_is_a_config_error_naming_the_line_not_its_content(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('AI_BACKEND=fake\nHUGGINGFACE_API_KEY="hf_unterminated_secret\n')
    with pytest.raises(
        ConfigError, match=r"line 2 of the settings file .*\.env' is not NAME=value"
    ) as caught:
        Settings.load({}, env_file=env_file)
    assert "hf_unterminated_secret" not in str(caught.value)


def test_a_settings_file_in_another_encoding_is_a_config_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"OLLAMA_MODEL=caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read the settings file"):
        Settings.load({}, env_file=env_file)


def test_dollar_references_are_not_expanded(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OLLAMA_MODEL=${HOME}\n")
    merged, _ = read_environment({}, env_file=env_file)
    assert merged["OLLAMA_MODEL"] == "${HOME}"


def test_overrides_win_over_everything(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OLLAMA_BASE_URL=http://file:1\n")
    settings = Settings.load(
        {"OLLAMA_BASE_URL": "http://env:2"}, env_file=env_file, overrides={"OLLAMA_BASE_URL": "http://cli:3"}
    )
    assert settings.get("OLLAMA_BASE_URL") == "http://cli:3"
    again = settings.with_overrides({"AI_BACKEND": "fake"})
    assert again.default_backend == "fake"
    assert settings.default_backend == "huggingface"


def test_repr_never_shows_a_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"OPENAI_API_KEY=sk-{KEY}\n")
    settings = Settings.load({"HUGGINGFACE_API_KEY": KEY}, env_file=env_file)
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert settings.get("HUGGINGFACE_API_KEY") == KEY
    shown = settings.backend_variables("huggingface")
    assert shown == {"HUGGINGFACE_API_KEY": "***"}
    assert KEY in settings.secrets()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HUGGINGFACE_API_KEY", True),
        ("ANTHROPIC_API_KEY", True),
        ("HF_TOKEN", True),
        ("HUGGINGFACE_BILL_TO", True),
        ("HUGGINGFACE_MODEL", False),
        ("OLLAMA_KEEP_ALIVE", False),
        ("AI_BACKEND", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret(name) is secret


def test_redact_masks_only_set_secrets() -> None:
    assert redact({"OPENAI_API_KEY": "sk-1", "OPENAI_MODEL": "gpt-4o", "ANTHROPIC_API_KEY": ""}) == {
        "OPENAI_API_KEY": "***",
        "OPENAI_MODEL": "gpt-4o",
        "ANTHROPIC_API_KEY": "",
    }


REPO = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_variable_the_backends_read() -> None:
    import re

    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    from adapters.llm import SPECS

    prefixes = "|".join(spec.env_prefix for spec in SPECS if spec.env_prefix)
    read_by_code: set[str] = set()
    for source in (REPO / "adapters" / "llm").rglob("settings.py"):
        text = source.read_text()
        quoted = set(re.findall(rf"[\"'`]((?:{prefixes})[A-Z_]+)[\"'`]", text))
        constants = set(re.findall(r"^([A-Z_]+)\s*[:=]", text, flags=re.MULTILINE))
        read_by_code |= quoted - constants
    assert read_by_code, "the backends' settings modules were not found"
    assert read_by_code - documented == set()
    assert {"AI_BACKEND", "CW_ENV", "CW_ENV_FILE"} <= documented


def test_env_example_loads_as_valid_settings() -> None:
    settings = Settings.load({}, env_file=REPO / ".env.example")
    assert settings.default_backend == "huggingface"
    assert settings.environment == "production"
    assert settings.get("HUGGINGFACE_API_KEY") is None  # blank means unset


def test_each_backend_gets_its_typed_settings_with_the_key_hidden(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OLLAMA_MODEL=qwen3\nANTHROPIC_API_KEY=sk-ant-secret-1234\n")
    settings = Settings.load(
        {
            "CW_ENV_FILE": str(env_file),
            "HUGGINGFACE_API_KEY": KEY,
            "HUGGINGFACE_PROVIDER": "cheapest",
            "OPENAI_MODEL": "gpt-4o-mini",
        }
    )
    hf = settings.huggingface()
    assert hf.api_key == KEY
    assert hf.provider == "cheapest"
    assert KEY not in repr(hf)
    assert settings.ollama().model == "qwen3"
    assert settings.openai().model == "gpt-4o-mini"
    claude = settings.claude()
    assert claude.api_key == "sk-ant-secret-1234"
    assert "sk-ant-secret-1234" not in repr(claude)


def test_a_backend_variable_that_does_not_parse_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="HUGGINGFACE_TIMEOUT"):
        Settings.load({"HUGGINGFACE_TIMEOUT": "soon"}).huggingface()
