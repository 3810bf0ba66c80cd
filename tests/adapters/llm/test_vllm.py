"""The vLLM backend: settings (no key on loopback), requests, the served model list, error advice.

The contract suite (``test_llm_contract.py``) runs the adapter through every shared behaviour;
these tests cover what is vLLM's own, over ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.container import build_container
from adapters.llm.vllm import SPEC, VLLMLLM, VLLMSettings, parse_models
from domain.errors import ConfigError, LLMError, ModelNotFoundError
from domain.messages import ChatMessage
from domain.model_config import Agent, AIModel, NormalizedModelConfig

pytestmark = pytest.mark.anyio

KEY = "vllm-secret-key-do-not-leak-42"
HELLO = [ChatMessage.user("Hello")]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}
MODELS = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen2.5-7B-Instruct",
            "object": "model",
            "owned_by": "vllm",
            "root": "/models/qwen2.5-7b",
            "max_model_len": 32768,
        }
    ],
}


class Recorder:
    def __init__(self, *replies: httpx.Response) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies.pop(0)


def make(recorder: Recorder, **settings: Any) -> VLLMLLM:
    return VLLMLLM(
        settings=VLLMSettings(max_retries=0, **settings),
        config=NormalizedModelConfig(model="Qwen/Qwen2.5-7B-Instruct", timeout=30),
        transport=httpx.MockTransport(recorder),
    )


# --- settings ----------------------------------------------------------------------------


def test_defaults_reach_a_local_server_without_a_key() -> None:
    settings = VLLMSettings.from_env({})
    assert settings.base_url == "http://localhost:8000/v1"
    assert settings.api_key is None
    settings.validate()
    assert SPEC.problem({}) is None


def test_variables_are_read_and_the_key_never_shown() -> None:
    settings = VLLMSettings.from_env(
        {
            "VLLM_BASE_URL": "https://gpu.example.com/v1/",
            "VLLM_API_KEY": f" {KEY} ",
            "VLLM_MODEL": "mistralai/Mistral-7B-Instruct-v0.3",
            "VLLM_TIMEOUT": "45",
            "VLLM_MAX_RETRIES": "0",
        }
    )
    assert (settings.base_url, settings.api_key, settings.model) == (
        "https://gpu.example.com/v1",
        KEY,
        "mistralai/Mistral-7B-Instruct-v0.3",
    )
    assert (settings.timeout, settings.max_retries) == (45.0, 0)
    settings.validate()
    assert KEY not in repr(settings)
    assert KEY not in repr(VLLMLLM(settings=settings))


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"VLLM_TIMEOUT": "soon"}, "VLLM_TIMEOUT"),
        ({"VLLM_MAX_RETRIES": "two"}, "VLLM_MAX_RETRIES"),
    ],
)
def test_a_variable_that_does_not_parse_names_itself(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        VLLMSettings.from_env(environ)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"base_url": "https://gpu.example.com/v1"}, "VLLM_API_KEY is not set"),
        ({"base_url": "http://gpu.example.com/v1", "api_key": KEY}, "plain http"),
        ({"base_url": "localhost:8000"}, "VLLM_BASE_URL must be an http"),
        ({"model": "  "}, "VLLM_MODEL is empty"),
        ({"timeout": 0.0}, "VLLM_TIMEOUT"),
        ({"max_retries": -1}, "VLLM_MAX_RETRIES"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_any_request(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        VLLMSettings(**settings).validate()
    assert KEY not in str(caught.value)
    with pytest.raises(ConfigError):
        VLLMLLM(settings=VLLMSettings(**settings))


def test_plain_http_with_a_key_is_fine_on_loopback() -> None:
    VLLMSettings(base_url="http://127.0.0.1:8000/v1", api_key=KEY).validate()


# --- requests ------------------------------------------------------------------------------


async def test_a_chat_goes_to_chat_completions_without_auth_when_no_key_is_set() -> None:
    recorder = Recorder(httpx.Response(200, json=COMPLETION))
    llm = make(recorder)
    reply = await llm.complete(HELLO)
    await llm.aclose()
    assert reply.content == "Hi!"
    (request,) = recorder.requests
    assert str(request.url) == "http://localhost:8000/v1/chat/completions"
    assert "authorization" not in request.headers
    assert json.loads(request.content)["model"] == "Qwen/Qwen2.5-7B-Instruct"


async def test_the_key_is_sent_as_a_bearer_token() -> None:
    recorder = Recorder(httpx.Response(200, json=COMPLETION))
    llm = make(recorder, api_key=KEY)
    await llm.complete(HELLO)
    await llm.aclose()
    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_models_come_from_v1_models_with_their_context_window() -> None:
    recorder = Recorder(httpx.Response(200, json=MODELS))
    llm = make(recorder)
    models = await llm.list_models()
    await llm.aclose()
    assert str(recorder.requests[0].url) == "http://localhost:8000/v1/models"
    assert models == (
        AIModel(
            name="Qwen/Qwen2.5-7B-Instruct",
            owned_by="vllm",
            context_length=32768,
            details={"root": "/models/qwen2.5-7b"},
        ),
    )


async def test_a_model_the_server_does_not_serve_says_how_to_find_the_right_one() -> None:
    body = {
        "object": "error",
        "message": "The model `gpt-4` does not exist.",
        "type": "NotFoundError",
        "code": 404,
    }
    llm = make(Recorder(httpx.Response(404, json=body)))
    with pytest.raises(ModelNotFoundError) as caught:
        await llm.complete(HELLO)
    await llm.aclose()
    assert "VLLM_MODEL" in caught.value.message
    assert "cw models --backend vllm" in caught.value.message


@given(
    payload=st.recursive(
        st.none() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_any_models_payload_parses_or_is_a_typed_error(payload: Any) -> None:
    try:
        models = parse_models(payload)
    except LLMError:
        return
    assert all(isinstance(model, AIModel) and model.name for model in models)


# --- registration ---------------------------------------------------------------------------


def test_the_container_registers_vllm_from_its_spec_alone() -> None:
    registry = build_container(
        "production", environ={"AI_BACKEND": "vllm", "VLLM_MODEL": "Qwen/Qwen3-8B"}
    ).backends()
    assert registry.default_backend == "vllm"
    config = registry.config_for(Agent(name="a", model_config={"top_k": 5}))
    assert (config.model, config.temperature, config.max_tokens, config.top_k) == (
        "Qwen/Qwen3-8B",
        0.7,
        4096,
        None,
    )
    assert config.warnings == ("top_k is not supported by vllm and was ignored",)
    llm = registry.for_backend("vllm")
    assert isinstance(llm, VLLMLLM)
    assert llm.base_url == "http://localhost:8000/v1"
