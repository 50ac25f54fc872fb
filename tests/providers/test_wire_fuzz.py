"""Property tests: the wire codec never raises and every frame yields a typed or error event."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_agents.events import RealtimeModelErrorEvent
from realtime_agents.providers.openai import wire
from realtime_agents.providers.openai.frames import KNOWN_SERVER_TYPES, MAX_NESTING, utf8_problem
from realtime_agents.providers.openai.protocol import OpenAIRealtimeProtocol

BASE = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
ITEM = {
    "id": "item_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "x"}],
}
VALID_FRAMES: list[dict[str, Any]] = [
    {"type": "response.output_audio.delta", **BASE, "delta": base64.b64encode(b"\0" * 64).decode()},
    {"type": "response.audio.delta", **BASE, "delta": "AAAA"},
    {"type": "response.output_text.delta", **BASE, "delta": "hi"},
    {"type": "response.output_audio_transcript.done", **BASE, "transcript": "hi"},
    {"type": "conversation.item.added", "previous_item_id": None, "item": ITEM},
    {"type": "conversation.item.created", "previous_item_id": "item_0", "item": ITEM},
    {
        "type": "response.output_item.done",
        "response_id": "r",
        "output_index": 0,
        "item": {
            "id": "f",
            "type": "function_call",
            "name": "n",
            "call_id": "c",
            "arguments": "{}",
            "status": "completed",
        },
    },
    {
        "type": "response.done",
        "response": {"id": "r", "status": "completed", "usage": {"total_tokens": 1}},
    },
    {
        "type": "error",
        "error": {"type": "invalid_request_error", "code": "x", "message": "m", "event_id": None},
    },
    {"type": "input_audio_buffer.speech_started", "audio_start_ms": 5, "item_id": "u"},
    {
        "type": "session.created",
        "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}},
    },
    {
        "type": "conversation.item.input_audio_transcription.failed",
        "item_id": "u",
        "error": {"message": "m"},
    },
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


def _check(frame: str | bytes) -> None:
    events = wire.decode_to_model_events(frame)
    assert events, "every frame yields at least one event"
    for event in events:
        assert isinstance(event.type, str)
        if isinstance(event, RealtimeModelErrorEvent) and event.error.code == "malformed_frame":
            assert event.error.message
    # The stateful protocol must not raise either (it may drop late audio: zero events is fine).
    OpenAIRealtimeProtocol(emit_raw_events=True).receive(frame, 0.0)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(frame: bytes) -> None:
    _check(frame)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json(value: Any) -> None:
    _check(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(KNOWN_SERVER_TYPES)),
    st.dictionaries(st.text(max_size=15), json_values, max_size=6),
)
def test_known_types_with_random_fields(frame_type: str, fields: dict[str, Any]) -> None:
    _check(json.dumps({**fields, "type": frame_type}))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VALID_FRAMES), st.data())
def test_mutated_valid_frames(frame: dict[str, Any], data: st.DataObject) -> None:
    mutated = dict(frame)
    key = data.draw(st.sampled_from(sorted(mutated)))
    action = data.draw(st.sampled_from(["drop", "replace", "truncate_text"]))
    if action == "drop":
        mutated.pop(key)
        _check(json.dumps(mutated))
    elif action == "replace":
        mutated[key] = data.draw(json_values)
        _check(json.dumps(mutated))
    else:
        text = json.dumps(mutated)
        cut = data.draw(st.integers(0, len(text)))
        _check(text[:cut] + data.draw(st.text(max_size=5)))


def test_valid_frames_decode_to_typed_events_not_errors() -> None:
    for frame in VALID_FRAMES:
        events = wire.decode_to_model_events(json.dumps(frame))
        assert not any(e.type == "error" and e.frame_type != "error" for e in events), frame


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(VALID_FRAMES),
    st.integers(MAX_NESTING + 1, 3000),
    st.sampled_from(["[", '{"a":']),
)
def test_valid_frames_with_a_value_nested_too_deep_are_errors(
    frame: dict[str, Any], depth: int, opener: str
) -> None:
    closer = "]" if opener == "[" else "}"
    deep = opener * depth + ("" if opener == "[" else "1") + closer * depth
    text = json.dumps({**frame, "extra": "DEEP"}).replace('"DEEP"', deep)
    for candidate in (text, text.encode()):
        _check(candidate)
        events = wire.decode_to_model_events(candidate)
        assert [e.type for e in events] == ["error"]
        assert f"nested deeper than {MAX_NESTING} levels" in events[0].error.message


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(VALID_FRAMES), st.binary(min_size=1, max_size=4).filter(_not_utf8))
def test_valid_frames_with_invalid_utf8_are_errors(frame: dict[str, Any], junk: bytes) -> None:
    data = json.dumps({**frame, "extra": "JUNK"}).encode().replace(b"JUNK", junk)
    _check(data)
    assert utf8_problem(data) is not None
    events = wire.decode_to_model_events(data)
    assert [e.type for e in events] == ["error"]
