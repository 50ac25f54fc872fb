"""Small JSON field validators that raise `ProtocolError`s with dotted `param` paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import (
    ProtocolError,
    invalid_type,
    invalid_value,
    missing_parameter,
    preview,
    unknown_parameter,
)


def join(prefix: str, key: str) -> str:
    """The dotted path of `key` under `prefix`."""
    return f"{prefix}.{key}" if prefix else key


def expect_object(value: object, param: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    return value


def check_keys(
    obj: Mapping[str, Any], allowed: Iterable[str], prefix: str, required: Iterable[str] = ()
) -> None:
    """Reject unknown keys (`unknown_parameter`) and absent required ones."""
    allowed_set = set(allowed)
    for key in obj:
        if key not in allowed_set:
            raise unknown_parameter(join(prefix, key))
    for key in required:
        if key not in obj:
            raise missing_parameter(join(prefix, key))


def expect_str(value: object, param: str, *, max_length: int | None = None) -> str:
    """A JSON string, optionally bounded in length."""
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if max_length is not None and len(value) > max_length:
        raise ProtocolError(
            "string_above_max_length",
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{max_length}, but got a string with length {len(value)} instead.",
            param,
        )
    return value


def expect_optional_str(value: object, param: str) -> str | None:
    """A JSON string or null."""
    return None if value is None else expect_str(value, param)


def expect_bool(value: object, param: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def expect_int(
    value: object, param: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A JSON integer within bounds (`integer_below_min_value` / `integer_above_max_value`)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if minimum is not None and value < minimum:
        raise ProtocolError(
            "integer_below_min_value",
            f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {preview(value)} instead.",
            param,
        )
    if maximum is not None and value > maximum:
        raise ProtocolError(
            "integer_above_max_value",
            f"Invalid '{param}': integer above maximum value. Expected a value <= {maximum}, "
            f"but got {preview(value)} instead.",
            param,
        )
    return value


def expect_number(
    value: object, param: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A JSON number within bounds (`decimal_below_min_value` / `decimal_above_max_value`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(param, "a decimal", value)
    number = value  # compared as it is: an integer too large for a float is still in order
    if minimum is not None and number < minimum:
        raise ProtocolError(
            "decimal_below_min_value",
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {minimum}, "
            f"but got {preview(value)} instead.",
            param,
        )
    if maximum is not None and number > maximum:
        raise ProtocolError(
            "decimal_above_max_value",
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {maximum}, "
            f"but got {preview(value)} instead.",
            param,
        )
    return float(number)


def expect_enum(value: object, param: str, allowed: list[str]) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if value not in allowed:
        raise invalid_value(param, value, allowed)
    return value


def expect_list(value: object, param: str) -> list[Any]:
    """A JSON array."""
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return value
