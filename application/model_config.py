"""One place that decides every setting of a model call: `ModelConfigNormalizer`.

Settings come from three layers — the driver's defaults (its `DriverProfile`), the backend's
configuration and the agent's overrides — and each layer may be incomplete or a little wrong.
The normaliser merges them (later wins, ``None`` never overrides), refuses what cannot be
meant (an unknown key, a word where a number belongs) with a `ConfigError` before any request
is sent, and clamps what is merely out of range to the documented range, saying so in
``config.warnings``. Adapters can then trust every value they are given. Everything
vendor-specific (defaults, narrower ranges, refused settings, model limits) comes in the
`DriverProfile` the backend declares: this module names no vendor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from domain.errors import ConfigError
from domain.model_config import DriverProfile, NormalizedModelConfig

__all__ = ["CONFIG_KEYS", "ModelConfigNormalizer"]

CONFIG_KEYS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(NormalizedModelConfig) if field.name != "warnings"
)
"""The keys an agent's ``model_config`` may use: the fields of `NormalizedModelConfig`."""

_MAX_STOPS = 4
_TOOL_CHOICES = ("auto", "none", "required")
_REASONING_EFFORTS = ("minimal", "low", "medium", "high")
_RESPONSE_FORMATS: Mapping[str, Mapping[str, Any]] = {
    "text": {"type": "text"},
    "json": {"type": "json_object"},
    "json_object": {"type": "json_object"},
}

# Ranges every backend documents; a driver's profile may narrow them.
_RANGES: Mapping[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
# Smallest allowed integers; below them the value is raised to the minimum.
_INT_MINIMUMS: Mapping[str, int] = {"max_tokens": 1, "top_k": 1}


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class ModelConfigNormalizer:
    """Merges a driver's defaults, backend settings and agent overrides into a `NormalizedModelConfig`."""

    def normalize(
        self,
        profile: DriverProfile,
        backend_settings: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> NormalizedModelConfig:
        """Merge the three layers and validate the result.

        Args:
            profile: the backend's driver profile: defaults, ranges, refused settings and
                known model limits.
            backend_settings: the backend's configured values. Keys that are not model
                settings (``api_key``, ``base_url``…) belong to the adapter and are ignored.
            overrides: the agent's ``model_config``; every key must be a model setting.

        Returns:
            The merged, validated and clamped config; ``warnings`` lists every adjustment.

        Raises:
            ConfigError: an override key is unknown, a value has the wrong type or cannot be
                meant (a timeout of zero), or no layer names a model.
        """
        driver = profile.driver
        overrides = overrides or {}
        unknown = sorted(key for key in overrides if key not in CONFIG_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown model setting(s) {', '.join(map(repr, unknown))} in the agent's model_config; "
                f"valid keys: {', '.join(CONFIG_KEYS)}"
            )
        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}  # where each value came from, for error messages
        layers = (
            (profile.defaults, f"the {driver} driver defaults"),
            (backend_settings or {}, f"the {driver} backend settings"),
            (overrides, "the agent's model_config"),
        )
        for layer, source in layers:
            for key, value in layer.items():
                if key in CONFIG_KEYS and value is not None:
                    merged[key] = value
                    sources[key] = source

        warnings: list[str] = []
        values: dict[str, Any] = {}
        for key, value in merged.items():
            checked = _CHECKS[key](key, value, sources[key], warnings)
            if checked is not None:
                values[key] = checked

        model = values.get("model")
        if not model:
            raise ConfigError(
                f"no model is set for the {driver} backend; set the backend's model setting "
                "or give the agent a model_config model"
            )
        _clamp_ranges(profile, values, warnings)
        _drop_unsupported(profile, values, warnings)
        _apply_model_limits(profile, model, values, warnings)
        return NormalizedModelConfig(**values, warnings=tuple(warnings))


def _clamp_ranges(profile: DriverProfile, values: dict[str, Any], warnings: list[str]) -> None:
    driver = profile.driver
    for key, (low, high) in {**_RANGES, **profile.ranges}.items():
        value = values.get(key)
        if value is None:
            continue
        clamped = min(max(value, low), high)
        if clamped != value:
            warnings.append(f"{key} {value} is outside {low}..{high} for {driver}; using {clamped}")
            values[key] = clamped
    for key, minimum in {**_INT_MINIMUMS, **profile.minimums}.items():
        value = values.get(key)
        if value is not None and value < minimum:
            warnings.append(f"{key} {value} is below the minimum {minimum} for {driver}; using {minimum}")
            values[key] = minimum


def _drop_unsupported(profile: DriverProfile, values: dict[str, Any], warnings: list[str]) -> None:
    for key, warning in profile.unsupported.items():
        if values.pop(key, None) is not None:
            warnings.append(warning)


def _apply_model_limits(
    profile: DriverProfile, model: str, values: dict[str, Any], warnings: list[str]
) -> None:
    limits = profile.limits_for(model)
    if limits is None:
        return
    max_tokens = values.get("max_tokens")
    if limits.max_output is not None and max_tokens is not None and max_tokens > limits.max_output:
        warnings.append(f"max_tokens {max_tokens} exceeds {model}'s output limit; using {limits.max_output}")
        values["max_tokens"] = limits.max_output
    context = values.get("context_length")
    if context is not None and context > limits.context:
        warnings.append(f"context_length {context} exceeds {model}'s window; using {limits.context}")
        values["context_length"] = limits.context


# --- per-key checks: (key, value, source label, warnings) -> normalised value -------------------


def _type_error(key: str, value: Any, source: str, expected: str) -> ConfigError:
    return ConfigError(f"{key} in {source} must be {expected}, got {_describe(value)}")


def _as_float(key: str, value: Any, source: str, warnings: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(key, value, source, "a number")
    if not math.isfinite(value):
        raise _type_error(key, value, source, "a finite number")
    return float(value)


def _as_int(key: str, value: Any, source: str, warnings: list[str]) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(key, value, source, "a whole number")
    return value


def _as_positive_int(key: str, value: Any, source: str, warnings: list[str]) -> int:
    number = _as_int(key, value, source, warnings)
    if number < 1:
        raise _type_error(key, value, source, "a whole number of at least 1")
    return number


def _as_timeout(key: str, value: Any, source: str, warnings: list[str]) -> float:
    number = _as_float(key, value, source, warnings)
    if number <= 0:
        raise _type_error(key, value, source, "a number of seconds above 0")
    return number


def _as_text(key: str, value: Any, source: str, warnings: list[str]) -> str | None:
    if not isinstance(value, str):
        raise _type_error(key, value, source, "text")
    return value.strip() or None


def _as_bool(key: str, value: Any, source: str, warnings: list[str]) -> bool:
    if not isinstance(value, bool):
        raise _type_error(key, value, source, "true or false")
    return value


def _as_stop(key: str, value: Any, source: str, warnings: list[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise _type_error(key, value, source, "a string or a list of strings")
    stops = tuple(item for item in items if item)
    if len(stops) > _MAX_STOPS:
        warnings.append(
            f"stop has {len(stops)} sequences, more than the {_MAX_STOPS} allowed; "
            f"kept the first {_MAX_STOPS}"
        )
        stops = stops[:_MAX_STOPS]
    return stops


def _as_choice(choices: tuple[str, ...]) -> Callable[[str, Any, str, list[str]], str]:
    def check(key: str, value: Any, source: str, warnings: list[str]) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise _type_error(key, value, source, f"one of {', '.join(choices)}")
        return value.strip().lower()

    return check


def _as_response_format(key: str, value: Any, source: str, warnings: list[str]) -> Mapping[str, Any]:
    if isinstance(value, str) and value.strip().lower() in _RESPONSE_FORMATS:
        return dict(_RESPONSE_FORMATS[value.strip().lower()])
    if isinstance(value, Mapping) and isinstance(value.get("type"), str):
        return dict(value)
    raise _type_error(key, value, source, 'an object with a "type" (or "text", "json")')


def _as_tool_choice(key: str, value: Any, source: str, warnings: list[str]) -> str | Mapping[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip().lower() in _TOOL_CHOICES:
        return value.strip().lower()
    raise _type_error(key, value, source, f"one of {', '.join(_TOOL_CHOICES)} or an object naming a tool")


_Check = Callable[[str, Any, str, list[str]], Any]
_CHECKS: Mapping[str, _Check] = {
    "model": _as_text,
    "temperature": _as_float,
    "max_tokens": _as_int,
    "top_p": _as_float,
    "top_k": _as_int,
    "frequency_penalty": _as_float,
    "presence_penalty": _as_float,
    "stop": _as_stop,
    "seed": _as_int,
    "response_format": _as_response_format,
    "tool_choice": _as_tool_choice,
    "context_length": _as_positive_int,
    "timeout": _as_timeout,
    "provider": _as_text,
    "reasoning": _as_bool,
    "reasoning_effort": _as_choice(_REASONING_EFFORTS),
    "thinking_budget": _as_int,
}
assert set(_CHECKS) == set(CONFIG_KEYS), "every NormalizedModelConfig field needs a check"
