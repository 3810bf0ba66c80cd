"""The core knows no vendor: no backend name in the code of ``domain/`` or ``application/``.

Docstrings and comments may name a backend as an example; code (identifiers, string values,
tables) may not, so adding a backend never touches the core.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.llm import SPECS

REPO = Path(__file__).resolve().parents[2]
VENDORS = sorted({word for spec in SPECS if spec.name != "fake" for word in (spec.name, spec.driver)})


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the string nodes that are docstrings (a module's, class's or function's first statement)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
        # attribute docstrings: a string expression right after an assignment
        if isinstance(body, list):
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def _code_words(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.lineno, node.name
        elif isinstance(node, ast.alias):
            yield getattr(node, "lineno", 0), node.name


@pytest.mark.parametrize("layer", ["domain", "application"])
def test_the_core_names_no_backend_in_its_code(layer: str) -> None:
    offending = [
        f"{path.relative_to(REPO)}:{line}: {word!r}"
        for path in sorted((REPO / layer).rglob("*.py"))
        for line, word in _code_words(path)
        if any(vendor in word.lower() for vendor in VENDORS)
    ]
    assert offending == []


def test_the_check_sees_a_vendor_in_code_but_not_in_docs(tmp_path: Path) -> None:
    source = (
        'DEFAULTS = {"ollama": 1}\n\n\n'
        'def f() -> str:\n    """ollama is fine here."""\n    return "x"  # and in a comment: ollama\n'
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [word for _, word in _code_words(path) if "ollama" in word] == ["ollama"]
