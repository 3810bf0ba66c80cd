"""Domain values to and from JSON-compatible dicts, through one private cattrs converter.

Why: the conversation store, the CLI's ``--json`` output, settings files and the fake
backend's scripts all need domain values as plain JSON. The domain stays free of
serialization methods (and of cattrs); every hook lives here, in one place, on a converter
of our own rather than cattrs' global one, so no other library can change its behaviour.

Shapes: enums are their values; tuples are lists; an `ImageInput` is ``{"url": …}``,
``{"data": <base64>, "media_type": …}`` or ``{"path": …}``. Inbound dicts with unknown
keys are refused (``forbid_extra_keys``) so a typo never silently drops a setting.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from typing import Any, TypeVar

import cattrs

from domain.events import (
    MessageAppended,
    ResponseCompleted,
    RunEnded,
    RunStatus,
    TextDelta,
    ThinkingDelta,
    ToolArgumentsDelta,
    ToolCallStarted,
    ToolExecutionFinished,
    ToolExecutionStarted,
)
from domain.messages import FinishReason, ImageInput, Role

__all__ = ["InvalidDataError", "from_json_dict", "make_converter", "to_json_dict"]

T = TypeVar("T")

_JSON_OBJECT = Mapping[str, Any]
_TOOL_CHOICE = str | Mapping[str, Any] | None


class InvalidDataError(ValueError):
    """A dict could not be turned into a domain value; the message lists every problem."""

    def __init__(self, cls: type[Any], problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid {cls.__name__}: " + "; ".join(problems))


def _unstructure_image(image: ImageInput) -> dict[str, Any]:
    if image.url is not None:
        out: dict[str, Any] = {"url": image.url}
    elif image.data is not None:
        out = {"data": base64.b64encode(image.data).decode("ascii")}
    else:
        out = {"path": image.path}
    if image.media_type is not None:
        out["media_type"] = image.media_type
    return out


def _structure_image(value: Any, _: type[Any]) -> ImageInput:
    if not isinstance(value, Mapping):
        raise ValueError(f"an image must be an object, not {type(value).__name__}")
    extra = set(value) - {"url", "data", "path", "media_type"}
    if extra:
        raise ValueError(f"unknown image keys: {', '.join(sorted(extra))}")
    media_type = value.get("media_type")
    if media_type is not None and not isinstance(media_type, str):
        raise ValueError("media_type must be a string")
    data = value.get("data")
    raw: bytes | None = None
    if data is not None:
        if not isinstance(data, str):
            raise ValueError("image data must be base64 text")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("image data is not valid base64") from None
    for key in ("url", "path"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ValueError(f"image {key} must be a string")
    return ImageInput(url=value.get("url"), data=raw, path=value.get("path"), media_type=media_type)


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _structure_tool_choice(value: Any, _: Any) -> str | dict[str, Any] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"tool_choice must be a string or an object, not {type(value).__name__}")


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, not {type(value).__name__}")
    return dict(value)


def _structure_optional_json_object(value: Any, _: Any) -> dict[str, Any] | None:
    return None if value is None else _structure_json_object(value, _)


def _unstructure_json(value: Any) -> Any:
    """Plain JSON values: mappings to dicts, tuples to lists, enums to their values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _unstructure_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unstructure_json(v) for v in value]
    return value


def make_converter() -> cattrs.Converter:
    """A new converter with every hook for the domain values registered."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    # StrEnums are str subclasses, which cattrs passes through as is: give their plain value.
    for enum_cls in (Role, FinishReason, RunStatus):
        converter.register_unstructure_hook(enum_cls, _enum_value)
    converter.register_unstructure_hook(ImageInput, _unstructure_image)
    converter.register_structure_hook(ImageInput, _structure_image)
    converter.register_unstructure_hook(bytes, lambda value: base64.b64encode(value).decode("ascii"))
    converter.register_structure_hook_func(lambda t: t == _TOOL_CHOICE, _structure_tool_choice)
    converter.register_structure_hook_func(lambda t: t == _JSON_OBJECT, _structure_json_object)
    converter.register_structure_hook_func(
        lambda t: t == _JSON_OBJECT | None, _structure_optional_json_object
    )
    converter.register_unstructure_hook_func(
        lambda cls: cls in (dict, Mapping) or getattr(cls, "__origin__", None) in (dict, Mapping),
        _unstructure_json,
    )
    # Errors are exceptions, not values: keep their class and message when a run is dumped.
    converter.register_unstructure_hook_func(
        lambda cls: isinstance(cls, type) and issubclass(cls, BaseException),
        lambda error: {"type": type(error).__name__, "message": str(error)},
    )
    for event in (
        TextDelta,
        ThinkingDelta,
        ToolCallStarted,
        ToolArgumentsDelta,
        ResponseCompleted,
        MessageAppended,
        ToolExecutionStarted,
        ToolExecutionFinished,
        RunEnded,
    ):
        converter.register_unstructure_hook(event, _tagged(converter, event))
    return converter


def _tagged(converter: cattrs.Converter, cls: type[Any]) -> Any:
    base = converter.gen_unstructure_attrs_fromdict(cls)

    def unstructure(value: Any) -> dict[str, Any]:
        return {"type": cls.__name__, **base(value)}

    return unstructure


def _describe(exc: BaseException, type_: type[Any] | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown keys: {', '.join(sorted(exc.extra_fields))}"
    name = getattr(type_, "__name__", None)
    expected = f", expected {name}" if name else ""
    return f"invalid value{expected} ({exc})" if str(exc) else f"invalid value{expected}"


_CONVERTER: cattrs.Converter | None = None


def _converter() -> cattrs.Converter:
    global _CONVERTER
    if _CONVERTER is None:
        _CONVERTER = make_converter()
    return _CONVERTER


def to_json_dict(value: Any) -> dict[str, Any]:
    """A domain value as a JSON-compatible dict (``json.dumps`` accepts it as is)."""
    result = _converter().unstructure(value)
    if not isinstance(result, dict):
        raise TypeError(f"{type(value).__name__} does not serialize to an object")
    return result


def from_json_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build a ``cls`` from a dict made by `to_json_dict` (or written by hand).

    Raises:
        InvalidDataError: unknown keys, wrong types or broken invariants, all listed.
    """
    try:
        return _converter().structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            problems = cattrs.transform_error(exc, format_exception=_describe)
        else:
            problems = [str(exc)]
        raise InvalidDataError(cls, problems) from exc
