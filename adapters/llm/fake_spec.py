"""The ``fake`` backend's registration: its driver profile and its `BackendSpec`.

The fake speaks the OpenAI-compatible wire by default, so it takes the Hugging Face router's
sampling defaults: tests then see the same request bodies a real backend would get.
"""

from __future__ import annotations

from adapters.llm.huggingface.profile import SAMPLING_DEFAULTS
from domain.model_config import DriverProfile, ModelLimits

__all__ = ["PROFILE"]

PROFILE = DriverProfile(
    driver="fake",
    defaults={"model": "fake-model", **SAMPLING_DEFAULTS, "timeout": 30.0},
    limits={"fake-model": ModelLimits(context=32_768, max_output=8192)},
)
"""Defaults and the one known model of the fake backend."""
