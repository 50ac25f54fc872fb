"""The local server's turn-taking options inside `audio.input.turn_detection` (both VAD kinds).

- `false_interruption`: `true`, `false` or `{"enabled", "min_interruption_ms", "max_hold_ms",
  "min_interruption_words", "backchannel_words", "interrupt_words"}` (`interruptions.py` says
  what each does). On by default for `semantic_vad`, off for `server_vad`.
- `echo_suppression`: `true` or `false`. On by default for `semantic_vad`, off for `server_vad`.

They are echoed in `session.updated` only once a client sets them.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProtocolError
from ..json_validators import (
    check_keys,
    expect_bool,
    expect_int,
    expect_list,
    expect_object,
    expect_str,
    join,
)
from .interruptions import (
    DEFAULT_BACKCHANNEL_WORDS,
    DEFAULT_INTERRUPT_WORDS,
    DEFAULT_MAX_HOLD_MS,
    DEFAULT_MIN_INTERRUPTION_MS,
    DEFAULT_MIN_INTERRUPTION_WORDS,
)

EXTENSION_KEYS = ("false_interruption", "echo_suppression")
_FALSE_INTERRUPTION_KEYS = [
    "enabled",
    "min_interruption_ms",
    "max_hold_ms",
    "min_interruption_words",
    "backchannel_words",
    "interrupt_words",
]
_MAX_WORDS = 200


def parse_extensions(obj: dict[str, Any], base: dict[str, Any], param: str) -> None:
    """Validate the extension keys of a `turn_detection` update into `base`."""
    if "echo_suppression" in obj:
        base["echo_suppression"] = expect_bool(
            obj["echo_suppression"], join(param, "echo_suppression")
        )
    if "false_interruption" not in obj:
        return
    value = obj["false_interruption"]
    name = join(param, "false_interruption")
    if isinstance(value, bool):
        base["false_interruption"] = {"enabled": value}
        return
    options = expect_object(value, name)
    check_keys(options, _FALSE_INTERRUPTION_KEYS, name)
    result: dict[str, Any] = dict(base.get("false_interruption") or {})
    result["enabled"] = expect_bool(options.get("enabled", True), join(name, "enabled"))
    for key in ("min_interruption_ms", "max_hold_ms"):
        if key in options:
            result[key] = expect_int(options[key], join(name, key), minimum=0, maximum=10_000)
    if "min_interruption_words" in options:
        result["min_interruption_words"] = expect_int(
            options["min_interruption_words"],
            join(name, "min_interruption_words"),
            minimum=1,
            maximum=100,
        )
    for key in ("backchannel_words", "interrupt_words"):
        if key in options:
            result[key] = _word_list(options[key], join(name, key))
    base["false_interruption"] = result


def _word_list(value: object, param: str) -> list[str]:
    words = expect_list(value, param)
    if len(words) > _MAX_WORDS:
        raise ProtocolError(
            "invalid_value", f"Invalid '{param}': at most {_MAX_WORDS} words.", param
        )
    return [expect_str(word, f"{param}[{index}]") for index, word in enumerate(words)]


def echo_suppression_enabled(turn_detection: dict[str, Any] | None) -> bool:
    """Whether frames that hold only the assistant's echo are ignored."""
    if turn_detection is None:
        return False
    value = turn_detection.get("echo_suppression")
    return turn_detection["type"] == "semantic_vad" if value is None else bool(value)


def false_interruption_options(turn_detection: dict[str, Any] | None) -> dict[str, Any] | None:
    """The effective false-interruption options (None: off)."""
    if turn_detection is None:
        return None
    options = turn_detection.get("false_interruption")
    if options is None:
        if turn_detection["type"] != "semantic_vad":
            return None
        options = {}
    if not options.get("enabled", True):
        return None
    return {
        "min_interruption_ms": options.get("min_interruption_ms", DEFAULT_MIN_INTERRUPTION_MS),
        "max_hold_ms": options.get("max_hold_ms", DEFAULT_MAX_HOLD_MS),
        "min_interruption_words": options.get(
            "min_interruption_words", DEFAULT_MIN_INTERRUPTION_WORDS
        ),
        "backchannel_words": options.get("backchannel_words", sorted(DEFAULT_BACKCHANNEL_WORDS)),
        "interrupt_words": options.get("interrupt_words", sorted(DEFAULT_INTERRUPT_WORDS)),
    }
