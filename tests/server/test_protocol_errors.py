"""Every invalid client event gets the right error code and param; the session lives on."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from server_helpers import Harness, types

from realtime_agents.server.effects import ProtocolLimits
from realtime_agents.server.protocol import CLIENT_EVENT_TYPES
from realtime_agents.server.turns.semantic import EAGERNESS, SemanticTurnDetector


def update(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "event_id": "evt_1", "session": session}


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"instructions": "x"}, "missing_required_parameter", "session.type"),
        ({"type": "realtime", "bogus_field": 1}, "unknown_parameter", "session.bogus_field"),
        ({"type": "realtime", "temperature": 0.8}, "unknown_parameter", "session.temperature"),
        ({"type": "beta"}, "invalid_value", "session.type"),
        ({"type": "transcription"}, "invalid_value", "session.type"),
        ({"type": "realtime", "instructions": 3}, "invalid_type", "session.instructions"),
        ({"type": "realtime", "output_modalities": ["video"]}, "invalid_value",
         "session.output_modalities[0]"),
        ({"type": "realtime", "output_modalities": "audio"}, "invalid_type",
         "session.output_modalities"),
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
         "integer_below_min_value", "session.audio.input.format.rate"),
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 48000}}}},
         "integer_above_max_value", "session.audio.input.format.rate"),
        ({"type": "realtime", "audio": {"input": {"format": {"type": "audio/mp3"}}}},
         "invalid_value", "session.audio.input.format.type"),
        ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
          "threshold": 1.5}}}}, "decimal_above_max_value",
         "session.audio.input.turn_detection.threshold"),
        ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
          "silence_duration_ms": -1}}}}, "integer_below_min_value",
         "session.audio.input.turn_detection.silence_duration_ms"),
        ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad",
          "eagerness": "eager"}}}}, "invalid_value",
         "session.audio.input.turn_detection.eagerness"),
        ({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad",
          "threshold": 0.5}}}}, "unknown_parameter",
         "session.audio.input.turn_detection.threshold"),
        ({"type": "realtime", "audio": {"output": {"speed": 3}}}, "decimal_above_max_value",
         "session.audio.output.speed"),
        ({"type": "realtime", "audio": {"output": {"voice": 7}}}, "invalid_type",
         "session.audio.output.voice"),
        ({"type": "realtime", "tools": [{"type": "mcp", "name": "x"}]}, "invalid_value",
         "session.tools[0].type"),
        ({"type": "realtime", "tools": [{"type": "function"}]}, "missing_required_parameter",
         "session.tools[0].name"),
        ({"type": "realtime", "tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
        ({"type": "realtime", "max_output_tokens": 0}, "integer_below_min_value",
         "session.max_output_tokens"),
        ({"type": "realtime", "max_output_tokens": 5000}, "integer_above_max_value",
         "session.max_output_tokens"),
        ({"type": "realtime", "truncation": "sometimes"}, "invalid_value", "session.truncation"),
        ({"type": "realtime", "include": ["everything"]}, "invalid_value", "session.include[0]"),
    ],
)  # fmt: skip
def test_bad_session_update_is_rejected_whole(
    session: dict[str, Any], code: str, param: str
) -> None:
    harness = Harness()
    before = copy.deepcopy(harness.core.session)
    # A valid change listed before the bad one must not be applied either.
    error = harness.error(update({"instructions": "changed", **session}))
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "evt_1")
    assert error["type"] == "invalid_request_error"
    assert harness.core.session == before
    # The session lives on: a valid update still works.
    ok = harness.send(update({"type": "realtime", "instructions": "fine"}))
    assert types(ok) == ["session.updated", "PrepareLlm"]  # new instructions to prefill


def test_valid_update_returns_full_effective_session() -> None:
    harness = Harness()
    outputs = harness.send(
        update(
            {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                    },
                    "output": {"voice": "marin"},
                },
            }
        )
    )
    session = outputs[0]["session"]  # type: ignore[index]
    assert session["output_modalities"] == ["text"]
    assert session["instructions"]  # untouched fields are still there
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["input"]["transcription"] == {
        "model": "whisper-1",
        "language": None,
        "prompt": None,
    }
    assert session["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
        "speed": 1.0,
    }
    assert harness.core.buffer.format == "g711_ulaw"
    assert isinstance(harness.core.detector, SemanticTurnDetector)
    assert harness.core.detector.eagerness == EAGERNESS["high"]


def test_session_created_has_ga_defaults() -> None:
    harness = Harness()
    (created,) = harness.start
    assert isinstance(created, dict) and created["type"] == "session.created"
    session = created["session"]
    assert session["id"].startswith("sess_") and session["object"] == "realtime.session"
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["tracing"] is None and session["include"] is None
    assert session["expires_at"] == 1_000 + 3600


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "nope"}, "invalid_value", "type"),
        ({"type": "output_audio_buffer.clear"}, "invalid_value", "type"),
        ({"event_id": "evt_9"}, "missing_required_parameter", "type"),
        ({"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio"),
        ({"type": "input_audio_buffer.append", "audio": "***"}, "invalid_value", "audio"),
        ({"type": "input_audio_buffer.append", "audio": "AA=="}, "invalid_value", "audio"),
        ({"type": "input_audio_buffer.append", "audio": 5}, "invalid_type", "audio"),
        ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty", None),
        ({"type": "input_audio_buffer.clear", "extra": 1}, "unknown_parameter", "extra"),
        ({"type": "response.cancel"}, "response_cancel_not_active", None),
        ({"type": "response.cancel", "response_id": "resp_x"}, "response_cancel_not_active", None),
        ({"type": "response.create", "response": {"modalities": ["text"]}}, "unknown_parameter",
         "response.modalities"),
        ({"type": "response.create", "response": {"conversation": "other"}}, "invalid_value",
         "response.conversation"),
        ({"type": "response.create", "response": {"max_output_tokens": "lots"}}, "invalid_value",
         "response.max_output_tokens"),
        ({"type": "response.create", "response": {"input": [{"type": "item_reference",
          "id": "item_missing"}]}}, "invalid_value", "response.input[0].id"),
        ({"type": "conversation.item.create"}, "missing_required_parameter", "item"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "robot",
          "content": []}}, "invalid_value", "item.role"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
          "content": [{"type": "output_text", "text": "x"}]}}, "invalid_value",
         "item.content[0].type"),
        ({"type": "conversation.item.create", "item": {"type": "function_call_output",
          "output": "x"}}, "missing_required_parameter", "item.call_id"),
        ({"type": "conversation.item.create", "previous_item_id": "item_nowhere",
          "item": {"type": "message", "role": "user", "content": []}}, "invalid_value",
         "previous_item_id"),
        ({"type": "conversation.item.retrieve", "item_id": "item_x"},
         "item_retrieve_invalid_item_id", "item_id"),
        ({"type": "conversation.item.delete", "item_id": "item_x"},
         "item_delete_invalid_item_id", "item_id"),
        ({"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 0,
          "audio_end_ms": 0}, "item_truncate_invalid_item_id", "item_id"),
    ],
)  # fmt: skip
def test_invalid_client_events(event: dict[str, Any], code: str, param: str | None) -> None:
    harness = Harness()
    error = harness.error({"event_id": "evt_9", **event})
    assert (error["code"], error["param"]) == (code, param)
    assert error["event_id"] == "evt_9"
    assert len(harness.core.conversation) == 0
    assert harness.core.responses == {}


def test_unknown_type_message_lists_the_accepted_events() -> None:
    error = Harness().error({"type": "ping"})
    assert error["message"].startswith("Invalid value: 'ping'. Supported values are: ")
    for kind in CLIENT_EVENT_TYPES:
        assert f"'{kind}'" in error["message"]
    assert error["event_id"] is None


def test_non_object_event() -> None:
    error = Harness().error([1, 2])  # type: ignore[arg-type]
    assert error["code"] == "invalid_type"


def test_commit_needs_100_ms() -> None:
    harness = Harness()
    harness.send({"type": "session.update", "session": {"type": "realtime",
                  "audio": {"input": {"turn_detection": None}}}})  # fmt: skip
    harness.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4700)).decode()})  # fmt: skip # noqa: E501
    error = harness.error({"type": "input_audio_buffer.commit"})
    assert error["code"] == "input_audio_buffer_commit_empty"
    assert "97.92ms" in error["message"]
    harness.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(100)).decode()})  # fmt: skip # noqa: E501
    assert types(harness.send({"type": "input_audio_buffer.commit"}))[:4] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "Transcribe",
    ]


def test_audio_buffer_limit() -> None:
    harness = Harness(ProtocolLimits(max_audio_buffer_ms=200))
    harness.send({"type": "session.update", "session": {"type": "realtime",
                  "audio": {"input": {"turn_detection": None}}}})  # fmt: skip
    chunk = base64.b64encode(bytes(4800)).decode()  # 100 ms
    assert harness.send({"type": "input_audio_buffer.append", "audio": chunk}) == []
    assert harness.send({"type": "input_audio_buffer.append", "audio": chunk}) == []
    error = harness.error({"type": "input_audio_buffer.append", "audio": chunk})
    assert (error["code"], error["param"]) == ("input_audio_buffer_too_large", "audio")
    assert harness.core.buffer.duration_ms == 200  # kept, still committable
    assert types(harness.send({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]  # fmt: skip # noqa: E501
    assert harness.core.buffer.duration_ms == 0


def test_conversation_item_limit() -> None:
    harness = Harness(ProtocolLimits(max_conversation_items=2))
    harness.user_text("one")
    harness.user_text("two")
    outputs = harness.user_text("three")
    assert outputs[0]["error"]["code"] == "conversation_max_items_exceeded"  # type: ignore[index]
    assert len(harness.core.conversation) == 2
    first = harness.core.conversation.ids()[0]
    harness.send({"type": "conversation.item.delete", "item_id": first})
    assert types(harness.user_text("three")) == ["conversation.item.added", "conversation.item.done"]  # fmt: skip # noqa: E501


def test_second_response_is_refused_while_one_is_active() -> None:
    harness = Harness()
    harness.user_text("hi")
    start = harness.create_response()
    error = harness.error({"type": "response.create", "event_id": "evt_2"})
    assert error["code"] == "conversation_already_has_active_response"
    assert start.response_id in error["message"] and error["event_id"] == "evt_2"
    # An out-of-band response is allowed meanwhile.
    outputs = harness.send({"type": "response.create", "response": {"conversation": "none"}})
    assert types(outputs) == ["response.created", "StartResponse"]


def test_session_expiry_closes_with_1001() -> None:
    harness = Harness(ProtocolLimits(max_session_seconds=10))
    assert harness.core.tick(harness.now + 9) == []
    outputs = harness.check(harness.core.tick(harness.now + 10))
    assert outputs[0]["error"]["code"] == "session_expired"  # type: ignore[index]
    assert types(outputs)[1] == "Close" and outputs[1].code == 1001  # type: ignore[union-attr]
    assert harness.core.tick(harness.now + 11) == []
