"""JSON Schemas for tools: generated from Python signatures, and checked against arguments.

Models call tools with JSON they wrote themselves, and small models get it wrong often: a
missing field, a number sent as text, a value outside an enum. Checking the arguments before
the call turns those mistakes into a message the model can act on instead of a Python
traceback. Only the JSON-Schema subset that tools use is supported (``type``, ``properties``,
``required``, ``enum``, ``const``, ``items``, ``anyOf``/``oneOf``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``minItems``/``maxItems``, ``pattern``, ``additionalProperties``),
so the core needs no schema library.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from domain.errors import ToolError

__all__ = ["ParsedDocstring", "parse_docstring", "schema_for_function", "validate"]

_SIMPLE_TYPES: Mapping[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_JSON_DEFAULTS = (str, int, float, bool)


class ParsedDocstring(typing.NamedTuple):
    """The parts of a Google-style docstring a tool schema uses."""

    summary: str
    params: Mapping[str, str]


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Return|Raises|Yields|Examples?|Notes?):\s*$"
)
_PARAM = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style docstring into its summary and its ``Args:`` descriptions.

    Args:
        doc: the raw docstring (``None`` for none).

    Returns:
        The first paragraph as one line, and each argument's description as one line.
    """
    if not doc:
        return ParsedDocstring(summary="", params={})
    lines = inspect.cleandoc(doc).splitlines()
    summary_lines: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary_lines.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    args_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        section = _SECTION.match(stripped)
        indent = len(line) - len(line.lstrip())
        if section and indent == 0:
            in_args = section.group(1) in {"Args", "Arguments", "Parameters", "Params"}
            args_indent, current = None, None
            continue
        if not in_args or not stripped:
            continue
        if args_indent is None:
            args_indent = indent
        match = _PARAM.match(stripped)
        if indent <= args_indent and match:
            current = match.group("name")
            params[current] = match.group("text").strip()
        elif current is not None and indent > args_indent:
            params[current] = f"{params[current]} {stripped}".strip()
    return ParsedDocstring(summary=" ".join(summary_lines), params=params)


def _is_optional(annotation: Any) -> tuple[bool, Any]:
    """Whether ``annotation`` admits ``None``, and the annotation without ``None``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            rest = args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
            return True, rest
    return False, annotation


def schema_for_annotation(annotation: Any, *, where: str) -> dict[str, Any]:
    """The JSON Schema of one Python annotation.

    Raises:
        ToolError: the annotation has no JSON form (say which; give ``parameters=`` instead).
    """
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return {}
    if annotation in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[annotation]}
    if annotation is type(None):
        return {"type": "null"}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_schema([member.value for member in annotation])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin in (typing.Union, types.UnionType):
        optional, rest = _is_optional(annotation)
        if optional:
            return {"anyOf": [schema_for_annotation(rest, where=where), {"type": "null"}]}
        return {"anyOf": [schema_for_annotation(arg, where=where) for arg in args]}
    if annotation in (list, tuple, set, frozenset) or origin in (list, set, frozenset, Sequence):
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = schema_for_annotation(args[0], where=where)
        return schema
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for_annotation(args[0], where=where)}
        items = [schema_for_annotation(arg, where=where) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if annotation is dict or origin in (dict, Mapping):
        schema = {"type": "object"}
        if len(args) == 2 and schema_for_annotation(args[1], where=where):
            schema["additionalProperties"] = schema_for_annotation(args[1], where=where)
        return schema
    raise ToolError(
        f"{where}: the annotation {annotation!r} has no JSON Schema form; use str, int, float, bool, "
        "list[...], dict, Literal[...], an Enum or X | None, or pass parameters= explicitly"
    )


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": values}
    kinds = {_json_type(value) for value in values}
    if len(kinds) == 1:
        schema["type"] = kinds.pop()
    return schema


def schema_for_function(
    func: Callable[..., Any], *, tool_name: str
) -> tuple[dict[str, Any], str, Mapping[str, Callable[[Any], Any]]]:
    """Build a tool's parameter schema from a function's signature and docstring.

    Args:
        func: the tool's function (sync or async).
        tool_name: used in error messages.

    Returns:
        The object schema, the docstring summary, and converters that turn JSON values back
        into the enum members some parameters expect.

    Raises:
        ToolError: a parameter cannot be described in JSON, or is positional-only.
    """
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # an annotation names something not importable where func lives
        raise ToolError(
            f"tool {tool_name!r}: could not resolve its type hints ({exc}); pass parameters= explicitly"
        ) from exc
    doc = parse_docstring(inspect.getdoc(func))
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, Callable[[Any], Any]] = {}
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:  # some builtins have no introspectable signature
        raise ToolError(
            f"tool {tool_name!r}: its signature cannot be read ({exc}); pass parameters="
        ) from exc
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ToolError(f"tool {tool_name!r}: parameter {parameter.name!r} is positional-only")
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        optional, bare = _is_optional(annotation)
        schema = schema_for_annotation(bare, where=f"tool {tool_name!r}, parameter {parameter.name!r}")
        if parameter.name in doc.params:
            schema["description"] = doc.params[parameter.name]
        default = parameter.default
        if isinstance(default, enum.Enum):
            default = default.value
        if default is not parameter.empty and isinstance(default, _JSON_DEFAULTS):
            schema["default"] = default
        if default is parameter.empty and not optional:
            required.append(parameter.name)
        properties[parameter.name] = schema
        if isinstance(bare, type) and issubclass(bare, enum.Enum):
            converters[parameter.name] = bare
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result, doc.summary, converters


# --- validation --------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$")


def _coerce(value: Any, wanted: str) -> tuple[bool, Any]:
    """Lenient conversions small models need: ``"5"`` for 5, ``5.0`` for 5, ``"true"`` for true."""
    if wanted == "integer":
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return True, int(value)
    if wanted == "number" and isinstance(value, str) and _NUMBER.match(value):
        return True, float(value)
    if wanted == "boolean" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return True, value.strip().lower() == "true"
    return False, value


def _type_matches(value: Any, wanted: str) -> bool:
    actual = _json_type(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> tuple[Any, list[str]]:
    """Check ``value`` against ``schema``.

    Args:
        value: a JSON value (the arguments object, at the top).
        schema: the JSON Schema subset described in the module docstring.
        path: where ``value`` sits, for messages (``offset``, ``items[2].name``).

    Returns:
        The value with lenient conversions applied (numeric strings, whole floats, ``"true"``;
        ``null`` for an optional property dropped), and every problem found, each a sentence
        naming its path. No problems means valid.
    """
    where = path or "arguments"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for option in schema[key]:
                converted, problems = validate(value, option, path)
                if not problems:
                    return converted, []
            options = " or ".join(_describe_schema(option) for option in schema[key])
            return value, [f"{where}: expected {options}, got {_short(value)}"]
    errors: list[str] = []
    wanted = schema.get("type")
    if wanted is not None:
        kinds = [wanted] if isinstance(wanted, str) else list(wanted)
        if not any(_type_matches(value, kind) for kind in kinds):
            for kind in kinds:
                ok, converted = _coerce(value, kind)
                if ok:
                    value = converted
                    break
            else:
                return value, [f"{where}: expected {' or '.join(kinds)}, got {_short(value)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}, got {_short(value)}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(item) for item in schema["enum"])
        errors.append(f"{where}: must be one of {allowed}, got {_short(value)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        errors.extend(_check_number(value, schema, where))
    if isinstance(value, str):
        errors.extend(_check_string(value, schema, where))
    if isinstance(value, list | tuple):
        value, more = _check_array(list(value), schema, path)
        errors.extend(more)
    if isinstance(value, Mapping):
        value, more = _check_object(value, schema, path)
        errors.extend(more)
    return value, errors


def _check_number(value: float, schema: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: must be at least {schema['minimum']}, got {value}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: must be at most {schema['maximum']}, got {value}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{where}: must be more than {schema['exclusiveMinimum']}, got {value}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{where}: must be less than {schema['exclusiveMaximum']}, got {value}")
    return errors


def _check_string(value: str, schema: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{where}: must have at least {schema['minLength']} characters, got {len(value)}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{where}: must have at most {schema['maxLength']} characters, got {len(value)}")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        errors.append(f"{where}: must match the pattern {schema['pattern']!r}")
    return errors


def _check_array(value: list[Any], schema: Mapping[str, Any], path: str) -> tuple[list[Any], list[str]]:
    where = path or "arguments"
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{where}: needs at least {schema['minItems']} items, got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{where}: takes at most {schema['maxItems']} items, got {len(value)}")
    prefix = schema.get("prefixItems", [])
    items = schema.get("items")
    result = []
    for index, item in enumerate(value):
        item_schema = prefix[index] if index < len(prefix) else items
        if isinstance(item_schema, Mapping):
            item, more = validate(item, item_schema, f"{path or 'arguments'}[{index}]")
            errors.extend(more)
        result.append(item)
    return result, errors


def _check_object(
    value: Mapping[str, Any], schema: Mapping[str, Any], path: str
) -> tuple[dict[str, Any], list[str]]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", []))
    prefix = f"{path}." if path else ""
    errors = []
    result: dict[str, Any] = {}
    for key, item in value.items():
        if item is None and key in properties and key not in required and not _admits_null(properties[key]):
            continue  # models often send null for "not given": let the default apply
        if key in properties:
            item, more = validate(item, properties[key], prefix + key)
            errors.extend(more)
        else:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                known = ", ".join(properties) or "none"
                errors.append(f"{prefix}{key}: unexpected property (known properties: {known})")
            elif isinstance(extra, Mapping):
                item, more = validate(item, extra, prefix + key)
                errors.extend(more)
        result[key] = item
    for key in required:
        if key not in value:
            errors.append(f"{prefix}{key}: required property is missing")
    return result, errors


def _admits_null(schema: Mapping[str, Any]) -> bool:
    wanted = schema.get("type")
    if wanted == "null" or (isinstance(wanted, list) and "null" in wanted):
        return True
    return any(_admits_null(option) for option in schema.get("anyOf", ()))


def _describe_schema(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(item) for item in schema["enum"])
    wanted = schema.get("type")
    if isinstance(wanted, list):
        return " or ".join(wanted)
    return str(wanted or "any value")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
