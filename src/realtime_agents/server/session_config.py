"""The session configuration: GA defaults, `session.update` validation and `response.create` params.

The effective session is kept as its wire dict (the `session` object of `session.updated`).
An update is validated whole against a copy and only then swapped in, so a rejected update
changes nothing. A session is either a realtime session (`type: "realtime"`) or a
transcription session (`type: "transcription"`, `?intent=transcription`), whose object holds
only `audio.input` and `include`; each rejects the other's updates.
"""

from __future__ import annotations

import copy
from typing import Any

from ..audio import AudioFormatName, normalize_audio_format
from .errors import ProtocolError, invalid_value
from .ids import new_id
from .json_validators import (
    check_keys,
    expect_bool,
    expect_enum,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_optional_str,
    expect_str,
    join,
)
from .shared_field_parsers import (
    parse_include,
    parse_max_output_tokens,
    parse_prompt,
    parse_tool_choice,
    parse_tools,
    parse_tracing,
    parse_truncation,
)
from .turns.options import EXTENSION_KEYS, parse_extensions

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly voice assistant running on a local server. "
    "Answer briefly and clearly."
)
VOICES = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"]
SEMANTIC_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}
"""Silence that ends a turn for `semantic_vad`, by eagerness (low waits longest)."""

_SESSION_KEYS = [
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "reasoning",
    "parallel_tool_calls",
    "object",
    "id",
    "expires_at",
]
_TRANSCRIPTION_SESSION_KEYS = ["type", "audio", "include", "object", "id", "expires_at"]
"""What a transcription session's `session.update` may hold (server fields are echoes)."""
_RESPONSE_ONLY_TURN_KEYS = ("create_response", "interrupt_response")
"""Turn detection settings about responses, which a transcription session never creates."""


def default_transcription_turn_detection() -> dict[str, Any]:
    """`server_vad` as a live transcription session echoes it (nothing about responses)."""
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
    }


def default_turn_detection() -> dict[str, Any]:
    """`server_vad` with the live defaults of a realtime session."""
    return {
        **default_transcription_turn_detection(),
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }


def _default_audio_input(turn_detection: dict[str, Any]) -> dict[str, Any]:
    """`audio.input` as a new session of either type reports it."""
    return {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": turn_detection,
    }


def default_transcription_session(now: float, max_duration_s: float) -> dict[str, Any]:
    """The full session object of a transcription session's `session.created` (live shape).

    `audio.input.transcription` is null as OpenAI echoes it; the server transcribes every
    committed item anyway, with its own speech-to-text engine (see `SessionProtocol.transcribe`).
    """
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": new_id("sess"),
        "expires_at": int(now + max_duration_s),
        "audio": {"input": _default_audio_input(default_transcription_turn_detection())},
        "include": None,
    }


def default_session(model: str, now: float, max_duration_s: float) -> dict[str, Any]:
    """The full session object of `session.created` (defaults as observed live)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(now + max_duration_s),
        "audio": {
            "input": _default_audio_input(default_turn_detection()),
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "include": None,
    }


def apply_session_update(
    current: dict[str, Any], raw: object, *, voice_locked: bool
) -> dict[str, Any]:
    """A new effective session with `raw` (the `session` of `session.update`) applied.

    Raises `ProtocolError` on the first problem; `current` is never modified. The update's
    `session.type` must be the current session's type (realtime or transcription).
    """
    update = expect_object(raw, "session")
    if "type" not in update:
        raise ProtocolError(
            "missing_required_parameter",
            "Missing required parameter: 'session.type'.",
            "session.type",
        )
    expect_enum(update["type"], "session.type", ["realtime", "transcription"])
    if current["type"] == "transcription":
        return _apply_transcription_update(current, update)
    if update["type"] == "transcription":
        raise ProtocolError(
            "invalid_value",
            "Passing a transcription session update event to a realtime session is not allowed.",
            "session.type",
        )
    check_keys(update, _SESSION_KEYS, "session")
    session = copy.deepcopy(current)
    for key, value in update.items():
        param = join("session", key)
        if key in ("type", "object", "id", "expires_at"):
            continue  # echoes of server fields are accepted and ignored
        if key == "model":
            session["model"] = expect_str(value, param)
        elif key == "instructions":
            session["instructions"] = expect_str(value, param)
        elif key == "output_modalities":
            session["output_modalities"] = parse_modalities(value, param)
        elif key == "audio":
            _apply_audio(session["audio"], value, param, voice_locked=voice_locked)
        elif key == "tools":
            session["tools"] = parse_tools(value, param)
        elif key == "tool_choice":
            session["tool_choice"] = parse_tool_choice(value, param)
        elif key == "max_output_tokens":
            session["max_output_tokens"] = parse_max_output_tokens(value, param)
        elif key == "tracing":
            session["tracing"] = parse_tracing(value, param)
        elif key == "truncation":
            session["truncation"] = parse_truncation(value, param)
        elif key == "prompt":
            session["prompt"] = None if value is None else parse_prompt(value, param)
        elif key == "include":
            session["include"] = parse_include(value, param)
        elif key == "reasoning":
            obj = expect_object(value, param)
            check_keys(obj, ["effort"], param)
            if "effort" in obj:
                expect_enum(
                    obj["effort"],
                    join(param, "effort"),
                    ["minimal", "low", "medium", "high", "xhigh"],
                )
            session["reasoning"] = obj
        elif key == "parallel_tool_calls":
            session["parallel_tool_calls"] = expect_bool(value, param)
    return session


def _apply_transcription_update(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`apply_session_update` for a transcription session: only `audio.input` and `include`."""
    if update["type"] == "realtime":
        raise ProtocolError(
            "invalid_value",
            "Passing a realtime session update event to a transcription session is not allowed.",
            "session.type",
        )
    for key in update:
        if key not in _TRANSCRIPTION_SESSION_KEYS:
            raise _not_in_transcription_session(join("session", key), key in _SESSION_KEYS)
    session = copy.deepcopy(current)
    if "audio" in update:
        audio = expect_object(update["audio"], "session.audio")
        for key in audio:
            if key != "input":
                raise _not_in_transcription_session(join("session.audio", key), key == "output")
        if "input" in audio:
            _apply_audio_input(
                session["audio"]["input"],
                audio["input"],
                "session.audio.input",
                transcription=True,
            )
    if "include" in update:
        session["include"] = parse_include(update["include"], "session.include")
    return session


def _not_in_transcription_session(param: str, realtime_field: bool) -> ProtocolError:
    """`unknown_parameter` for a key a transcription session does not have."""
    message = f"Unknown parameter: '{param}'."
    if realtime_field:
        message += (
            " It is a realtime session field, and this is a transcription session"
            " (?intent=transcription): it only accepts 'session.audio.input' and"
            " 'session.include'."
        )
    return ProtocolError("unknown_parameter", message, param)


def parse_modalities(value: object, param: str) -> list[str]:
    """`["audio"]` or `["text"]`; both at once mean audio (audio always carries a transcript)."""
    items = expect_list(value, param)
    if not items:
        raise invalid_value(param, value, ["audio", "text"])
    for index, item in enumerate(items):
        expect_enum(item, f"{param}[{index}]", ["audio", "text"])
    return ["audio"] if "audio" in items else ["text"]


def parse_audio_format(value: object, param: str) -> dict[str, Any]:
    """A GA audio format object (older string names accepted)."""
    if isinstance(value, str):
        try:
            name = normalize_audio_format(value)
        except ValueError:
            raise invalid_value(param, value, ["pcm16", "g711_ulaw", "g711_alaw"]) from None
        return _ga_format(name)
    obj = expect_object(value, param)
    check_keys(obj, ["type", "rate"], param, required=["type"])
    kind = expect_enum(obj["type"], join(param, "type"), ["audio/pcm", "audio/pcmu", "audio/pcma"])
    if "rate" in obj and obj["rate"] is not None:
        if kind == "audio/pcm":
            expect_int(obj["rate"], join(param, "rate"), minimum=24000, maximum=24000)
        else:
            expect_int(obj["rate"], join(param, "rate"), minimum=8000, maximum=8000)
    return {"type": "audio/pcm", "rate": 24000} if kind == "audio/pcm" else {"type": kind}


def _ga_format(name: AudioFormatName) -> dict[str, Any]:
    if name == "pcm16":
        return {"type": "audio/pcm", "rate": 24000}
    return {"type": "audio/pcmu" if name == "g711_ulaw" else "audio/pcma"}


def format_name(audio_format: dict[str, Any]) -> AudioFormatName:
    """The canonical name (`pcm16`, `g711_ulaw`, `g711_alaw`) of a GA format object."""
    return normalize_audio_format(audio_format)


def _apply_audio(audio: dict[str, Any], raw: object, param: str, *, voice_locked: bool) -> None:
    obj = expect_object(raw, param)
    check_keys(obj, ["input", "output"], param)
    if "input" in obj:
        _apply_audio_input(audio["input"], obj["input"], join(param, "input"))
    if "output" in obj:
        out_param = join(param, "output")
        out = expect_object(obj["output"], out_param)
        check_keys(out, ["format", "voice", "speed"], out_param)
        target = audio["output"]
        if "format" in out:
            target["format"] = parse_audio_format(out["format"], join(out_param, "format"))
        if "voice" in out:
            voice = parse_voice(out["voice"], join(out_param, "voice"))
            if voice_locked and voice != target["voice"]:
                raise ProtocolError(
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                    join(out_param, "voice"),
                )
            target["voice"] = voice
        if "speed" in out:
            target["speed"] = expect_number(
                out["speed"], join(out_param, "speed"), minimum=0.25, maximum=1.5
            )


def parse_voice(value: object, param: str) -> str | dict[str, Any]:
    """A voice name (any non-empty string: local engines have their own) or `{"id": ...}`."""
    if isinstance(value, dict):
        check_keys(value, ["id"], param, required=["id"])
        return {"id": expect_str(value["id"], join(param, "id"))}
    voice = expect_str(value, param)
    if not voice:
        raise invalid_value(param, value, VOICES)
    return voice


def _apply_audio_input(
    target: dict[str, Any], raw: object, param: str, *, transcription: bool = False
) -> None:
    """Apply an `audio.input` update (`transcription`: of a transcription session)."""
    obj = expect_object(raw, param)
    check_keys(obj, ["format", "transcription", "noise_reduction", "turn_detection"], param)
    if "format" in obj:
        target["format"] = parse_audio_format(obj["format"], join(param, "format"))
    if "transcription" in obj:
        target["transcription"] = _parse_transcription(
            obj["transcription"], join(param, "transcription")
        )
    if "noise_reduction" in obj:
        value = obj["noise_reduction"]
        nr_param = join(param, "noise_reduction")
        if value is None:
            target["noise_reduction"] = None
        else:
            nr = expect_object(value, nr_param)
            check_keys(nr, ["type"], nr_param)
            kind = expect_enum(
                nr.get("type", "near_field"), join(nr_param, "type"), ["near_field", "far_field"]
            )
            target["noise_reduction"] = {"type": kind}
    if "turn_detection" in obj:
        target["turn_detection"] = parse_turn_detection(
            obj["turn_detection"],
            target["turn_detection"],
            join(param, "turn_detection"),
            transcription=transcription,
        )


def _parse_transcription(value: object, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    obj = expect_object(value, param)
    check_keys(obj, ["model", "language", "prompt", "delay", "keywords", "languages"], param)
    result: dict[str, Any] = {
        "model": expect_str(obj.get("model", "whisper-1"), join(param, "model")),
        "language": expect_optional_str(obj.get("language"), join(param, "language")),
        "prompt": expect_optional_str(obj.get("prompt"), join(param, "prompt")),
    }
    return result


def parse_turn_detection(
    value: object, current: dict[str, Any] | None, param: str, *, transcription: bool = False
) -> dict[str, Any] | None:
    """`null`, `server_vad` or `semantic_vad`; omitted fields keep their current or default.

    In a transcription session (`transcription`) the defaults hold nothing about responses,
    and `create_response` / `interrupt_response` may only be false (they are not kept).
    """
    if value is None:
        return None
    obj = expect_object(value, param)
    if transcription:
        obj = dict(obj)
        for key in _RESPONSE_ONLY_TURN_KEYS:
            if key in obj and expect_bool(obj.pop(key), join(param, key)):
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid value for '{join(param, key)}': true. A transcription session "
                    "never creates or interrupts responses; omit it or pass false.",
                    join(param, key),
                )
    kind = expect_enum(
        obj.get("type", current["type"] if current else "server_vad"),
        join(param, "type"),
        ["server_vad", "semantic_vad"],
    )
    base: dict[str, Any]
    if current is not None and current["type"] == kind:
        base = dict(current)
    elif kind == "server_vad":
        base = default_transcription_turn_detection() if transcription else default_turn_detection()
    elif transcription:
        base = {"type": "semantic_vad", "eagerness": "auto"}
    else:
        base = {
            "type": "semantic_vad",
            "eagerness": "auto",
            "create_response": True,
            "interrupt_response": True,
        }
    if kind == "server_vad":
        check_keys(
            obj,
            [
                "type",
                "threshold",
                "prefix_padding_ms",
                "silence_duration_ms",
                "idle_timeout_ms",
                "create_response",
                "interrupt_response",
                *EXTENSION_KEYS,
            ],
            param,
        )
        if "threshold" in obj:
            base["threshold"] = expect_number(
                obj["threshold"], join(param, "threshold"), minimum=0.0, maximum=1.0
            )
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if key in obj:
                base[key] = expect_int(obj[key], join(param, key), minimum=0, maximum=10_000)
        if "idle_timeout_ms" in obj:
            idle = obj["idle_timeout_ms"]
            base["idle_timeout_ms"] = (
                None
                if idle is None
                else expect_int(idle, join(param, "idle_timeout_ms"), minimum=1, maximum=600_000)
            )
    else:
        check_keys(
            obj,
            ["type", "eagerness", "create_response", "interrupt_response", *EXTENSION_KEYS],
            param,
        )
        if "eagerness" in obj:
            base["eagerness"] = expect_enum(
                obj["eagerness"], join(param, "eagerness"), ["low", "medium", "high", "auto"]
            )
    for key in ("create_response", "interrupt_response"):
        if key in obj:
            base[key] = expect_bool(obj[key], join(param, key))
    parse_extensions(obj, base, param)  # the local server's turn-taking options
    return base


def vad_parameters(turn_detection: dict[str, Any]) -> tuple[float, int, int]:
    """(threshold, prefix_padding_ms, silence_duration_ms) for either VAD kind."""
    if turn_detection["type"] == "semantic_vad":
        return 0.5, 300, SEMANTIC_SILENCE_MS[turn_detection.get("eagerness") or "auto"]
    return (
        float(turn_detection["threshold"]),
        int(turn_detection["prefix_padding_ms"]),
        int(turn_detection["silence_duration_ms"]),
    )
