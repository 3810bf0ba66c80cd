"""`VLLMSettings`: where a vLLM server is, read from ``VLLM_*`` variables and checked before any request.

vLLM (``vllm serve MODEL``) speaks OpenAI's chat completions at ``http://host:8000/v1``. A
server on this machine usually wants no key; one started with ``--api-key`` (or any server
on another machine) gets it as a bearer token, which is never sent over plain http to
another host and never shown in a ``repr``. Reading and checking are `HTTPBackendSettings`'s.

Variables: ``VLLM_BASE_URL`` (default ``http://localhost:8000/v1``), ``VLLM_API_KEY``
(optional on loopback), ``VLLM_MODEL`` (the model the server serves), ``VLLM_TIMEOUT``
(seconds, default 120) and ``VLLM_MAX_RETRIES`` (default 2).
"""

from __future__ import annotations

import attrs

from adapters.llm._backend_settings import HTTPBackendSettings

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "VLLMSettings"]

DEFAULT_BASE_URL = "http://localhost:8000/v1"
DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@attrs.frozen(kw_only=True)
class VLLMSettings(HTTPBackendSettings):
    """How to reach a vLLM server (the fields are `HTTPBackendSettings`'s). ``repr`` never shows the key.

    ``api_key`` is the server's ``--api-key``, required only for a server on another machine;
    ``model`` is the served model used when an agent sets none (``cw models --backend vllm``).
    """

    prefix = "VLLM"
    title = "vLLM"
    default_base_url = DEFAULT_BASE_URL
    default_model = DEFAULT_MODEL

    def _missing_key(self, host: str) -> str:
        return (
            f"VLLM_API_KEY is not set: the vLLM server at {host} is not on this machine; set "
            "VLLM_API_KEY to the server's --api-key (only a server on localhost may go without)"
        )
