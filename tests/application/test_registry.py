"""The registry turns backend names into adapters bound to normalised configs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from application.registry import BackendEntry, BackendRegistry
from domain.errors import ConfigError, LLMError, NotSupportedError, UnknownBackendError
from domain.model_config import Agent, AIModel, DriverProfile, ModelPullProgress, NormalizedModelConfig
from domain.ports import LLMPort, ModelManagementPort, PullProgressCallback
from tests.application.fakes import FAKE_PROFILE, FakeChatModel


class FakeModelManager:
    """A model-management port that only remembers what it pulled."""

    def __init__(self) -> None:
        self.pulled: list[str] = []

    async def pull(self, model: str, *, on_progress: PullProgressCallback | None = None) -> None:
        self.pulled.append(model)
        if on_progress:
            on_progress(ModelPullProgress(status="success"))

    async def delete(self, model: str) -> None:
        self.pulled.remove(model)

    async def show(self, model: str) -> AIModel:
        return AIModel(name=model)

    async def running(self) -> Sequence[AIModel]:
        return ()


def _factory(name: str) -> Callable[[NormalizedModelConfig], LLMPort]:
    def build(config: NormalizedModelConfig) -> LLMPort:
        return FakeChatModel(name=name, config=config)

    return build


MANAGER = FakeModelManager()
LOCAL_PROFILE = DriverProfile(driver="ollama", defaults={"model": "llama3.1", "timeout": 300.0})


def _registry() -> BackendRegistry:
    return BackendRegistry(
        [
            BackendEntry(
                name="huggingface",
                driver="huggingface",
                factory=_factory("huggingface"),
                settings={"model": "Qwen/Qwen2.5-72B-Instruct", "provider": "fastest", "api_key": "hf_x"},
            ),
            BackendEntry(name="fake", driver="fake", factory=_factory("fake"), profile=FAKE_PROFILE),
            BackendEntry(
                name="local",
                driver="ollama",
                factory=_factory("local"),
                model_manager=lambda: MANAGER,
                profile=LOCAL_PROFILE,
            ),
        ],
        default_backend="huggingface",
    )


def test_names_are_exactly_the_registered_ones_in_order() -> None:
    registry = _registry()
    assert registry.names() == ("huggingface", "fake", "local")
    assert registry.default_backend == "huggingface"


def test_unknown_backend_lists_the_valid_names() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        _registry().get("anthropic")
    assert caught.value.valid == ("huggingface", "fake", "local")
    assert "huggingface, fake, local" in str(caught.value)


def test_for_agent_binds_the_normalised_config_of_the_agents_backend() -> None:
    registry = _registry()
    agent = Agent(name="a", backend="huggingface", model_config={"temperature": 0.1})
    llm = registry.for_agent(agent)
    assert llm.name == "huggingface"
    assert llm.config.model == "Qwen/Qwen2.5-72B-Instruct"
    assert llm.config.provider == "fastest"
    assert llm.config.temperature == 0.1
    assert llm.config == registry.config_for(agent)


def test_an_agent_without_backend_uses_the_default() -> None:
    llm = _registry().for_agent(Agent(name="a"))
    assert llm.name == "huggingface"


def test_the_entrys_profile_decides_the_defaults_not_the_name() -> None:
    config = _registry().config_for(Agent(name="a", backend="local"))
    assert config.model == "llama3.1"
    assert config.timeout == 300.0


def test_for_backend_without_an_agent() -> None:
    llm = _registry().for_backend("fake", {"model": "other"})
    assert (llm.name, llm.config.model) == ("fake", "other")


def test_validate_agent_accepts_registered_names_only() -> None:
    registry = _registry()
    registry.validate_agent(Agent(name="a", backend="fake"))
    with pytest.raises(UnknownBackendError, match="valid backends: huggingface, fake, local"):
        registry.validate_agent(Agent(name="a", backend="claude"))


def test_validate_agent_checks_the_model_config() -> None:
    with pytest.raises(ConfigError, match="unknown model setting"):
        _registry().validate_agent(Agent(name="a", model_config={"temp": 1}))


def test_model_manager_when_offered_and_not_supported_otherwise() -> None:
    registry = _registry()
    manager: ModelManagementPort = registry.model_manager("local")
    assert manager is MANAGER
    with pytest.raises(NotSupportedError) as caught:
        registry.model_manager("huggingface")
    assert caught.value.backend == "huggingface"
    assert str(caught.value).endswith("does not manage models (pull, delete, show); use local for that")
    with pytest.raises(UnknownBackendError):
        registry.model_manager("nope")


def test_default_backend_must_be_registered_and_names_unique() -> None:
    entry = BackendEntry(name="fake", driver="fake", factory=_factory("fake"), profile=FAKE_PROFILE)
    with pytest.raises(UnknownBackendError, match="'ollama'"):
        BackendRegistry([entry], default_backend="ollama")
    with pytest.raises(ConfigError, match="registered twice"):
        BackendRegistry([entry, entry], default_backend="fake")


# --- probe: is a self-hosted backend's server up? ------------------------------------------------


class _ServerModel(FakeChatModel):
    """A self-hosted backend's adapter whose model list answers, fails or never comes."""

    def __init__(self, answer: LLMError | asyncio.Event | None) -> None:
        super().__init__(name="server")
        self.answer = answer
        self.asked = 0

    async def list_models(self, *, detailed: bool = False) -> Sequence[AIModel]:
        self.asked += 1
        if isinstance(self.answer, LLMError):
            raise self.answer
        if isinstance(self.answer, asyncio.Event):
            await self.answer.wait()
        return (AIModel(name="served"),)


def _probing(answer: LLMError | asyncio.Event | None) -> tuple[BackendRegistry, list[_ServerModel]]:
    """A self-hosted ``server``, a hosted ``hosted`` and a model-managing ``local``, and every
    adapter any of them built."""
    built: list[_ServerModel] = []

    def build(config: NormalizedModelConfig) -> LLMPort:
        built.append(_ServerModel(answer))
        return built[-1]

    registry = BackendRegistry(
        [
            BackendEntry(
                name="server", driver="server", factory=build, settings={"model": "served"}, self_hosted=True
            ),
            BackendEntry(name="hosted", driver="hosted", factory=build),
            BackendEntry(
                name="local",
                driver="ollama",
                factory=build,
                model_manager=FakeModelManager,
                profile=LOCAL_PROFILE,
            ),
        ],
        default_backend="server",
    )
    return registry, built


@pytest.mark.anyio
async def test_probe_asks_a_self_hosted_server_for_its_models_and_closes_the_adapter() -> None:
    registry, built = _probing(None)
    assert await registry.probe("server", 2) is None
    assert [(adapter.asked, adapter.closed) for adapter in built] == [(1, True)]


@pytest.mark.anyio
async def test_probe_gives_the_reason_a_self_hosted_server_failed() -> None:
    registry, built = _probing(LLMError("server: cannot reach 127.0.0.1:8000; is it running?"))
    assert await registry.probe("server", 2) == "server: cannot reach 127.0.0.1:8000; is it running?"
    assert built[0].closed


@pytest.mark.anyio
async def test_probe_gives_up_on_a_server_that_does_not_answer_and_still_closes_the_adapter() -> None:
    registry, built = _probing(asyncio.Event())
    assert await registry.probe("server", 0.05) == "its server did not answer within 0.05 s"
    assert built[0].closed


@pytest.mark.anyio
async def test_probe_never_calls_a_hosted_service_and_asks_a_model_manager_for_running_models() -> None:
    registry, built = _probing(None)
    assert await registry.probe("hosted", 2) is None
    assert await registry.probe("local", 2) is None  # its manager's running() answered
    assert built == []
    assert [registry.get(name).probed for name in ("server", "hosted", "local")] == [True, False, True]
    with pytest.raises(UnknownBackendError):
        await registry.probe("nope", 2)
