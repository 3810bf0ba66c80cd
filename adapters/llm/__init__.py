"""The LLM backends: one package per backend, each exporting one `BackendSpec` as ``SPEC``.

`SPECS` lists them, once. The container registers them, ``cw backends`` and the HTTP service
list them, the settings know their variables' prefixes from them, and the tests scrub the
environment of those variables and check that each has its docs row and ``.env.example``
block. Adding a backend is adding its package and one line here (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from adapters.llm.anthropic import SPEC as CLAUDE_SPEC
from adapters.llm.fake_spec import SPEC as FAKE_SPEC
from adapters.llm.huggingface import SPEC as HUGGINGFACE_SPEC
from adapters.llm.ollama import SPEC as OLLAMA_SPEC
from adapters.llm.openai import SPEC as OPENAI_SPEC
from adapters.llm.spec import BackendSpec, BuildContext
from adapters.llm.vllm import SPEC as VLLM_SPEC

__all__ = ["SPECS", "SPECS_BY_NAME", "BackendSpec", "BuildContext"]

SPECS: Final[tuple[BackendSpec[Any], ...]] = (
    HUGGINGFACE_SPEC,
    OLLAMA_SPEC,
    OPENAI_SPEC,
    CLAUDE_SPEC,
    VLLM_SPEC,
    FAKE_SPEC,
)
"""Every backend, in the order listings show them."""

SPECS_BY_NAME: Final[Mapping[str, BackendSpec[Any]]] = MappingProxyType({spec.name: spec for spec in SPECS})
"""The specs by backend name."""
