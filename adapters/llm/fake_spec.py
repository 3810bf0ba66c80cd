"""The ``fake`` backend's registration: its capabilities, driver profile and `BackendSpec`.

The fake speaks the OpenAI-compatible wire by default, so it takes the Hugging Face router's
sampling defaults: tests then see the same request bodies a real backend would get. It reads
no settings: the container hands it its `ScriptedTransport` (``container.fake_script``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.llm.huggingface.profile import SAMPLING_DEFAULTS
from adapters.llm.spec import BackendSpec, BuildContext
from domain.model_config import Capabilities, DriverProfile, ModelLimits, NormalizedModelConfig

if TYPE_CHECKING:
    from adapters.llm.fake import FakeLLM

__all__ = ["CAPABILITIES", "PROFILE", "SPEC"]

CAPABILITIES = Capabilities(
    streaming=True, function_calling=True, vision=True, model_management=False, embeddings=False
)
"""Everything a chat backend can do, except model management."""

PROFILE = DriverProfile(
    driver="fake",
    defaults={"model": "fake-model", **SAMPLING_DEFAULTS, "timeout": 30.0},
    limits={"fake-model": ModelLimits(context=32_768, max_output=8192)},
)
"""Defaults and the one known model of the fake backend."""


def _build(settings: None, config: NormalizedModelConfig, io: BuildContext) -> FakeLLM:
    from adapters.llm.fake import FakeLLM  # fake.py imports this module's profile

    return FakeLLM(config=config, name="fake", transport=io.fake_transport())


SPEC: BackendSpec[None] = BackendSpec(
    name="fake",
    title="Fake",
    driver="fake",
    env_prefix=None,
    settings=None,
    build=_build,
    capabilities=CAPABILITIES,
    profile=PROFILE,
)
"""The ``fake`` backend: scripted replies rendered to real wire bytes."""
