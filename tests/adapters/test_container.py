"""The composition root: one container, two environments, overridable, and inert at import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dependency_injector import providers

from adapters.container import BACKEND_BUILDERS, Container, backend_problem, build_container
from adapters.environments import ENVIRONMENTS, environment_config
from adapters.settings import Settings
from application.registry import BackendRegistry
from application.tools import ToolRegistry
from domain.errors import ConfigError, UnknownBackendError
from domain.model_config import Agent
from domain.ports import ConversationStorePort, ToolRunnerPort

HF_KEY = "hf_" + "k" * 34


def test_every_environment_registers_only_backends_the_container_can_build() -> None:
    for name in ENVIRONMENTS:
        assert set(environment_config(name)["backends"]) <= set(BACKEND_BUILDERS)


def test_unknown_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="production, test"):
        build_container("staging", environ={})


def test_cw_env_chooses_the_environment_and_explicit_env_wins() -> None:
    assert build_container(environ={"CW_ENV": "test"}).backends().default_backend == "fake"
    assert build_container("test", environ={"CW_ENV": "production"}).backends().default_backend == "fake"


def test_production_default_backend_comes_from_ai_backend() -> None:
    container = build_container("production", environ={"AI_BACKEND": "fake"})
    assert container.backends().default_backend == "fake"
    assert build_container("production", environ={}).backends().default_backend == "huggingface"


def test_production_with_an_unknown_ai_backend_lists_the_valid_ones() -> None:
    container = build_container("production", environ={"AI_BACKEND": "gpt"})
    with pytest.raises(UnknownBackendError, match="huggingface") as caught:
        container.backends()
    assert str(caught.value).startswith("AI_BACKEND='gpt' is not a backend; set AI_BACKEND to one of ")
    assert str(caught.value).endswith("huggingface, ollama, openai, claude, vllm, fake")
    assert caught.value.name == "gpt"


def test_test_environment_wires_the_fake_backend_and_a_memory_store() -> None:
    container = build_container("test", environ={})
    registry = container.backends()
    assert isinstance(registry, BackendRegistry)
    assert "fake" in registry.names()
    store = container.store()
    assert isinstance(store, ConversationStorePort)
    assert container.store() is store  # one store per container: conversations survive turns
    assert isinstance(container.tools(), ToolRunnerPort)


def test_providers_are_singletons_per_container_not_globals() -> None:
    first, second = build_container("test", environ={}), build_container("test", environ={})
    assert first.store() is not second.store()
    assert first.backends() is not second.backends()


def test_builtin_tools_are_confined_to_the_configured_workspace(tmp_path: Path) -> None:
    container = build_container("test", environ={})
    container.config.workspace.from_value(str(tmp_path))
    tools = container.tools()
    assert isinstance(tools, ToolRegistry)
    assert {"read", "glob", "grep"} <= set(tools.names())


def test_application_tools_are_added_to_the_builtin_ones() -> None:
    def shout(text: str) -> str:
        """Say it louder.

        Args:
            text: what to say.
        """
        return text.upper()

    def whisper(text: str) -> str:
        return text.lower()

    container = build_container("test", environ={})
    container.app_tools.override(
        providers.Object([shout, (whisper, {"name": "murmur", "description": "Say it softly."})])
    )
    names = container.tools().names()
    assert "shout" in names
    assert "murmur" in names
    assert container.tools().get("murmur").definition.description == "Say it softly."
    assert "read" in names


def test_an_embedding_application_can_override_any_provider() -> None:
    class RecordingStore:
        def __init__(self) -> None:
            self.saved: list[object] = []

        async def append(self, conversation_id: str, message: object) -> None:
            self.saved.append(message)

        async def load(self, conversation_id: str) -> list[object]:
            return []

        async def list_conversations(self) -> list[str]:
            return []

        async def delete(self, conversation_id: str) -> None:
            return None

    container = build_container("test", environ={})
    mine = RecordingStore()
    container.store.override(providers.Object(mine))
    assert container.store() is mine
    container.store.reset_override()
    assert container.store() is not mine


def test_settings_are_the_ones_read_at_build_time() -> None:
    settings = Settings.load({"HUGGINGFACE_API_KEY": HF_KEY, "AI_BACKEND": "fake"})
    container = build_container(settings=settings)
    assert container.settings() is settings
    assert HF_KEY not in repr(container.settings())


def test_backend_problem_names_the_missing_key() -> None:
    problem = backend_problem(Settings.load({}), "claude")
    assert problem is not None
    assert "ANTHROPIC_API_KEY" in problem
    assert backend_problem(Settings.load({"ANTHROPIC_API_KEY": "sk-ant-x"}), "claude") is None


def test_claude_is_one_name_everywhere_and_runs_the_anthropic_driver() -> None:
    environ = {"AI_BACKEND": "claude", "ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_MODEL": "claude-opus-4-1"}
    registry = build_container("production", environ=environ).backends()
    assert registry.default_backend == "claude"
    entry = registry.get("claude")
    assert (entry.name, entry.driver) == ("claude", "anthropic")
    assert "anthropic" not in registry.names()
    registry.validate_agent(Agent(name="a", backend="claude"))
    for wrong in ("anthropic", "Claude", "claude-3"):
        with pytest.raises(UnknownBackendError, match="claude"):
            registry.validate_agent(Agent(name="a", backend=wrong))
    # The anthropic driver's range applies: Claude takes temperatures up to 1.
    config = registry.config_for(Agent(name="a", backend="claude", model_config={"temperature": 1.7}))
    assert config.model == "claude-opus-4-1"
    assert config.temperature == 1.0
    assert config.warnings
    with pytest.raises(UnknownBackendError, match="claude"):
        build_container("production", environ={**environ, "AI_BACKEND": "anthropic"}).backends()


def test_registry_normalises_the_agent_config_with_backend_settings() -> None:
    container = build_container("test", environ={})
    agent = Agent(name="a", backend="fake", model_config={"temperature": 5.0})
    config = container.backends().config_for(agent)
    assert config.temperature == 2.0
    assert config.warnings


def test_container_class_reads_nothing_until_asked() -> None:
    container = Container()
    assert container.http_transport() is None


def test_importing_the_composition_root_and_cli_does_no_io(tmp_path: Path) -> None:
    """Import every module of ours with file, socket and environment access booby-trapped."""
    probe = textwrap.dedent(
        """
        import builtins, io, os, socket, sys
        calls = []
        real_open = builtins.open
        def trap_open(file, *args, **kwargs):
            name = str(file)
            # Import machinery (a sys.path entry such as the stdlib zip, which pydantic's plugin
            # discovery scans once fastapi is installed, because dependency_injector imports it) is
            # not the kind of I/O this test is about: settings, .env files and sockets are.
            importing = name in sys.path or "site-packages" in name
            if not name.endswith((".py", ".pyc", ".pyi", ".typed", ".pth")) and not importing:
                calls.append(("open", name))
            return real_open(file, *args, **kwargs)
        def trap_connect(self, address):
            calls.append(("connect", address))
            raise OSError("no network at import")
        class SpyEnviron(dict):
            def __getitem__(self, key):
                if key.startswith(("AI_", "CW_", "HUGGINGFACE", "OLLAMA", "OPENAI", "ANTHROPIC")):
                    calls.append(("environ", key))
                return super().__getitem__(key)
            def get(self, key, default=None):
                if key.startswith(("AI_", "CW_", "HUGGINGFACE", "OLLAMA", "OPENAI", "ANTHROPIC")):
                    calls.append(("environ", key))
                return super().get(key, default)
        builtins.open = trap_open
        io.open = trap_open
        socket.socket.connect = trap_connect
        os.environ = SpyEnviron(os.environ)
        import adapters.settings, adapters.environments, adapters.container
        import adapters.cli.main, adapters.cli.run, adapters.cli.models, adapters.cli.demo
        adapters.container.Container()
        print(calls)
        """
    )
    (tmp_path / ".env").write_text("AI_BACKEND=ollama\n")
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_documented_embedding_example_works(tmp_path: Path) -> None:
    """The example in adapters/container.py's docstring, on the fake backend."""
    from adapters.storage.memory import InMemoryConversationStore
    from domain.events import RunStatus
    from domain.messages import AIResponse, ToolCall

    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: the city's name.
        """
        return f"Sunny in {city}"

    container = build_container("test", environ={"HUGGINGFACE_API_KEY": HF_KEY})
    store = InMemoryConversationStore()
    container.store.override(providers.Object(store))
    container.app_tools.override(providers.Object([get_weather]))
    container.config.workspace.from_value(str(tmp_path))
    container.fake_script.override(
        providers.Object(
            [
                AIResponse(
                    tool_calls=(ToolCall(id="w1", name="get_weather", arguments={"city": "Paris"}),),
                    finish_reason="tool_calls",
                ),
                AIResponse(content="It is sunny in Paris."),
            ]
        )
    )
    agent = Agent(name="weather", system_prompt="Be brief.", tools=("get_weather", "read"))
    ended = container.run_agent().run_sync(agent, "What is the weather in Paris?")
    assert ended.status is RunStatus.COMPLETED
    assert ended.response is not None
    assert ended.response.content == "It is sunny in Paris."
    tool_message = next(m for m in ended.messages if m.role == "tool")
    assert tool_message.content == "Sunny in Paris"
    offered = [tool["function"]["name"] for tool in container.fake_transport().requests[0]["tools"]]
    assert offered == ["get_weather", "read"]
    import asyncio

    assert len(asyncio.run(store.load(ended.conversation_id))) == len(ended.messages)
