"""The backend list: every registered spec is whole, documented and configurable in one place."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.container import backend_problem, build_container
from adapters.environments import ENVIRONMENTS, environment_config
from adapters.llm import SPECS, SPECS_BY_NAME, BackendSpec
from adapters.settings import BACKEND_ENV_PREFIXES, Settings
from domain.model_config import DriverProfile

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "ai-backends.md"
ENV_EXAMPLE = REPO / ".env.example"


def _overview_rows(docs: str) -> set[str]:
    """Backend names in the overview table of docs/ai-backends.md (``| **Title** (`name`) | …``)."""
    section = docs.split("## Overview", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|[^|]*\(`([a-z0-9_-]+)`\)[^|]*\|", section, flags=re.MULTILINE))


def _env_blocks(example: str) -> dict[str, set[str]]:
    """``.env.example``'s blocks: backend name (from ``(backend `name`)``) → the variables under it."""
    blocks: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in example.splitlines():
        header = re.search(r"\(backend `([a-z0-9_-]+)`\)", line)
        if header and line.startswith("#"):
            current = blocks.setdefault(header.group(1), set())
        elif current is not None and (variable := re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)):
            current.add(variable.group(1))
    return blocks


def undocumented(specs: Iterable[BackendSpec[Any]], docs: str, example: str) -> list[str]:
    """What each spec misses: its overview row, its ``.env.example`` block, variables in that block."""
    rows = _overview_rows(docs)
    blocks = _env_blocks(example)
    problems = []
    for spec in specs:
        if spec.name not in rows:
            problems.append(f"{spec.name}: no row in the overview table of docs/ai-backends.md")
        if spec.env_prefix is None:
            continue
        block = blocks.get(spec.name)
        if block is None:
            problems.append(f"{spec.name}: no block headed '(backend `{spec.name}`)' in .env.example")
        elif not any(name.startswith(spec.env_prefix) for name in block):
            problems.append(f"{spec.name}: its .env.example block lists no {spec.env_prefix}* variable")
    return problems


def test_every_registered_backend_has_its_docs_row_and_env_example_block() -> None:
    assert undocumented(SPECS, DOCS.read_text(), ENV_EXAMPLE.read_text()) == []


def test_a_backend_missing_from_the_docs_or_env_example_is_reported() -> None:
    unknown = attrs.evolve(SPECS_BY_NAME["openai"], name="nebula", env_prefix="NEBULA_")
    problems = undocumented([unknown], DOCS.read_text(), ENV_EXAMPLE.read_text())
    assert problems == [
        "nebula: no row in the overview table of docs/ai-backends.md",
        "nebula: no block headed '(backend `nebula`)' in .env.example",
    ]


def test_specs_are_whole_and_named_once() -> None:
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names))
    assert names[-1] == "fake"
    prefixes = [spec.env_prefix for spec in SPECS if spec.env_prefix is not None]
    assert len(prefixes) == len(set(prefixes))
    for spec in SPECS:
        assert isinstance(spec.profile, DriverProfile)
        assert spec.profile.driver == spec.driver
        assert spec.profile.defaults.get("model"), f"{spec.name}: the profile names no default model"
        assert (spec.env_prefix is None) == (spec.settings is None)
        assert spec.env_prefix is None or re.fullmatch(r"[A-Z][A-Z0-9]*_", spec.env_prefix)


def test_the_list_is_read_by_the_environments_the_settings_and_the_container() -> None:
    names = tuple(spec.name for spec in SPECS)
    for environment in ENVIRONMENTS:
        assert tuple(environment_config(environment)["backends"]) == names
    assert {name: prefix + "_" for name, prefix in BACKEND_ENV_PREFIXES.items()} == {
        spec.name: spec.env_prefix for spec in SPECS if spec.env_prefix
    }
    registry = build_container("test", environ={}).backends()
    assert registry.names() == names
    for spec in SPECS:
        entry = registry.get(spec.name)
        assert (entry.driver, entry.capabilities, entry.profile) == (
            spec.driver,
            spec.capabilities,
            spec.profile,
        )
        assert (entry.model_manager is not None) == spec.manages_models


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_each_backend_builds_its_adapter_from_its_spec(spec: BackendSpec[Any]) -> None:
    environ = {
        "HUGGINGFACE_API_KEY": "hf_" + "k" * 34,
        "OPENAI_API_KEY": "sk-x",
        "ANTHROPIC_API_KEY": "sk-ant-x",
    }
    registry = build_container("test", environ=environ).backends()
    config = registry.config_for_backend(spec.name)
    assert config.model == spec.model_settings(spec.read_settings(environ)).get(
        "model", spec.profile.defaults["model"]
    )
    adapter = registry.for_backend(spec.name)
    assert adapter.capabilities() == spec.capabilities
    assert backend_problem(Settings.load(environ), spec.name) is None


def test_a_backend_whose_settings_do_not_parse_fails_only_when_used() -> None:
    registry = build_container("test", environ={"OLLAMA_TIMEOUT": "soon"}).backends()
    assert registry.for_backend("fake") is not None
    with pytest.raises(Exception, match="OLLAMA_TIMEOUT"):
        registry.for_backend("ollama")
    with pytest.raises(Exception, match="OLLAMA_TIMEOUT"):
        registry.model_manager("ollama")
    assert "OLLAMA_TIMEOUT" in (backend_problem(Settings.load({"OLLAMA_TIMEOUT": "soon"}), "ollama") or "")
