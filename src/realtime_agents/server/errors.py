"""Protocol errors as values: the `error` server event and the exception that carries one."""

from __future__ import annotations

from typing import Any

from ..errors import RealtimeAgentsError
from .ids import new_id

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class ProtocolError(RealtimeAgentsError):
    """A client mistake that becomes an `error` event; the connection lives on unless `fatal`."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        *,
        error_type: str = INVALID_REQUEST,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type

    def to_event(self, client_event_id: str | None) -> dict[str, Any]:
        """The `error` server event, echoing the offending client `event_id`."""
        return error_event(
            self.code,
            self.message,
            param=self.param,
            client_event_id=client_event_id,
            error_type=self.error_type,
        )


MAX_ERROR_MESSAGE_CHARS = 1000
"""An `error` event's message is cut to this many characters; its `param` and echoed
`event_id` to `MAX_ERROR_ECHO_CHARS`: an error never echoes unbounded client input."""
MAX_ERROR_ECHO_CHARS = 256
PREVIEW_CHARS = 100
"""How much of an offending value an error message quotes."""


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a note of its full length when longer."""
    if len(text) <= limit:
        return text
    note = f"... ({len(text)} characters)"
    return text[: max(0, limit - len(note))] + note


def preview(value: object, limit: int = PREVIEW_CHARS) -> str:
    """A short `repr` of a client value for an error message (never the whole of a long one)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, list | dict) and len(value) > limit:
        return f"<{_json_type(value)} of {len(value)} entries>"
    try:
        return clip(repr(value), limit)
    except (ValueError, RecursionError):  # (an integer too long for str, deep nesting)
        return f"<{_json_type(value)}>"


def error_event(
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    client_event_id: str | None = None,
    error_type: str = INVALID_REQUEST,
) -> dict[str, Any]:
    """An `error` server event in the GA shape, with explicit nulls (long fields clipped)."""
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": error_type,
            "code": code,
            "message": clip(message, MAX_ERROR_MESSAGE_CHARS),
            "param": None if param is None else clip(param, MAX_ERROR_ECHO_CHARS),
            "event_id": (
                None if client_event_id is None else clip(client_event_id, MAX_ERROR_ECHO_CHARS)
            ),
        },
    }


def unknown_parameter(param: str) -> ProtocolError:
    """`unknown_parameter` for a dotted parameter path."""
    return ProtocolError(
        "unknown_parameter", f"Unknown parameter: '{clip(param, MAX_ERROR_ECHO_CHARS)}'.", param
    )


def missing_parameter(param: str) -> ProtocolError:
    """`missing_required_parameter` for a dotted parameter path."""
    return ProtocolError(
        "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    )


def invalid_type(param: str, expected: str, value: object) -> ProtocolError:
    """`invalid_type`: the value has the wrong JSON type."""
    return ProtocolError(
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param,
    )


def invalid_value(param: str, value: object, allowed: list[str] | None = None) -> ProtocolError:
    """`invalid_value`, optionally listing the supported values."""
    message = f"Invalid value: {preview(value)}."
    if allowed:
        message += " Supported values are: " + _join_allowed(allowed) + "."
    return ProtocolError("invalid_value", message, param)


def _join_allowed(allowed: list[str]) -> str:
    quoted = [f"'{value}'" for value in allowed]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
