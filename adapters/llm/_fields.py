"""`present`: the keyword arguments that are set, for wire bodies that leave unset fields out."""

from __future__ import annotations

from typing import Any

__all__ = ["present"]


def present(**values: Any) -> dict[str, Any]:
    """The ``values`` that are not ``None``, in their order (``present(a=1, b=None) == {"a": 1}``)."""
    return {name: value for name, value in values.items() if value is not None}
