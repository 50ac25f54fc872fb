"""Event order and state of the sans-I/O core for text, audio/VAD, tools, barge-in and more."""

from __future__ import annotations

import base64

from server_helpers import WEATHER_TOOL, Harness, events, only_start, types

from realtime_agents.server.effects import AnalyzeAudio, CancelResponse, Transcribe
from realtime_agents.server.engines.base import LlmToolCall

TAIL_AUDIO = [
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
]


def manual(harness: Harness) -> None:
    harness.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )


def test_text_turn_order_and_ids() -> None:
    harness = Harness()
    harness.send(
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
    )
    added = harness.user_text("Say hi")
    user_id = added[0]["item"]["id"]  # type: ignore[index]
    assert user_id.startswith("item_") and added[0]["previous_item_id"] is None  # type: ignore[index]
    start = harness.create_response({"metadata": {"topic": "greeting"}})
    core, rid = harness.core, start.response_id
    assert rid.startswith("resp_")
    assert [m["role"] for m in start.request.messages] == ["system", "user"]
    out = harness.check(core.response_text(rid, "Hi"))
    out += harness.check(core.response_text(rid, " there!"))
    out += harness.check(core.response_finished(rid, harness.now))
    assert types(out) == [
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert out[1]["previous_item_id"] == user_id  # type: ignore[index]
    assert out[5]["text"] == "Hi there!"  # type: ignore[index]
    done = out[-1]["response"]  # type: ignore[index]
    assert done["status"] == "completed" and done["status_details"] is None
    assert done["metadata"] == {"topic": "greeting"}
    assert done["output"][0]["content"] == [{"type": "output_text", "text": "Hi there!"}]
    assert done["usage"]["output_tokens"] > 0 and done["conversation_id"].startswith("conv_")
    assert harness.core.default_response_id is None


def test_audio_turn_with_server_vad_and_transcription() -> None:
    harness = Harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "whisper-1"}}},
            },
        }
    )
    chunk = base64.b64encode(bytes(4800)).decode()
    effects = []
    for _ in range(20):  # 2 s of audio
        effects += harness.send({"type": "input_audio_buffer.append", "audio": chunk})
    assert all(isinstance(e, AnalyzeAudio) for e in effects) and len(effects) == 20
    assert effects[3].start_ms == 300  # type: ignore[union-attr]
    core = harness.core
    # 32 ms frames: silence until 320 ms, speech until 960 ms, then silence.
    frames = [(i * 32.0, (i + 1) * 32.0, 0.9 if 10 <= i < 30 else 0.1) for i in range(60)]
    out = harness.check(core.vad_frames(frames, harness.now))
    kinds = types(out)
    assert kinds[:7] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "Transcribe",
        "response.created",
    ]
    assert "StartResponse" not in kinds  # held until the transcript is known
    started, stopped, committed = out[0], out[1], out[2]
    assert started["audio_start_ms"] == 320 - 300  # type: ignore[index]
    assert stopped["audio_end_ms"] == 960 + 200  # type: ignore[index]
    item_id = started["item_id"]  # type: ignore[index]
    assert stopped["item_id"] == committed["item_id"] == item_id  # type: ignore[index]
    transcribe = out[5]
    assert isinstance(transcribe, Transcribe)
    assert len(transcribe.audio) == (1160 - 20) * 48
    out = harness.check(core.transcription_delta(item_id, "What's up"))
    out += harness.check(core.transcription_completed(item_id, "What's up?"))
    assert types(out) == [
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "StartResponse",
    ]
    start = only_start(out)
    assert start.request.messages[-1] == {"role": "user", "content": "What's up?"}
    out = harness.check(core.response_text(start.response_id, "Fine."))
    out += harness.check(core.response_audio(start.response_id, bytes(9600)))
    out += harness.check(core.response_finished(start.response_id, harness.now))
    assert types(out) == [
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        *TAIL_AUDIO,
        "response.done",
    ]
    retrieved = harness.send({"type": "conversation.item.retrieve", "item_id": item_id})[0]
    part = retrieved["item"]["content"][0]  # type: ignore[index]
    assert part["transcript"] == "What's up?" and len(base64.b64decode(part["audio"])) == 1140 * 48


def test_function_call_round_trip() -> None:
    harness = Harness()
    harness.send(
        {"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL]}}
    )
    harness.user_text("Weather in Paris?")
    start = harness.create_response()
    assert start.request.tools[0]["name"] == "get_weather"
    core = harness.core
    call = LlmToolCall("get_weather", '{"city":"Paris"}', "call_abcdefghijklmnop")
    out = harness.check(core.response_tool_call(start.response_id, call))
    out += harness.check(core.response_finished(start.response_id, harness.now))
    assert types(out) == [
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert out[3]["name"] == "get_weather" and out[3]["arguments"] == '{"city":"Paris"}'  # type: ignore[index]
    call_item = out[5]["item"]  # type: ignore[index]
    assert call_item["status"] == "completed" and call_item["call_id"] == call.call_id
    created = harness.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": '{"temp_c":21}',
            },
        }
    )
    assert types(created) == ["conversation.item.added", "conversation.item.done"]
    assert created[0]["previous_item_id"] == call_item["id"]  # type: ignore[index]
    assert harness.core.default_response_id is None  # the output alone does not respond
    second = harness.create_response()
    messages = second.request.messages
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": '{"temp_c":21}',
    }


def test_message_then_tool_call_get_two_output_indexes() -> None:
    harness = Harness()
    harness.user_text("hi")
    start = harness.create_response()
    core = harness.core
    out = harness.check(core.response_text(start.response_id, "Let me check."))
    out += harness.check(
        core.response_tool_call(start.response_id, LlmToolCall("f", "{}", "call_1"))
    )
    indexes = [e["output_index"] for e in events(out, "response.output_item.added")]
    assert indexes == [0, 1]
    assert types(out).index("response.output_item.done") < types(out).index(
        "response.function_call_arguments.done"
    )


def test_barge_in_cancels_and_truncate_trims_the_transcript() -> None:
    harness = Harness()
    harness.user_text("Tell me a story")
    start = harness.create_response()
    core, rid = harness.core, start.response_id
    harness.check(core.response_text(rid, "Once upon a time, "))
    harness.check(core.response_audio(rid, bytes(48 * 1000)))  # 1 s
    harness.check(core.response_text(rid, "there was a dragon."))
    harness.check(core.response_audio(rid, bytes(48 * 1000)))
    item_id = core.responses[rid].output[0]["id"]
    harness.send(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(9600)).decode()}
    )
    out = harness.check(core.vad_frames([(0.0, 32.0, 0.95)], harness.now))
    assert types(out) == [
        "input_audio_buffer.speech_started",
        *TAIL_AUDIO,
        "response.done",
        "CancelResponse",
    ]
    done = out[-2]["response"]  # type: ignore[index]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["output"][0]["status"] == "incomplete"
    assert isinstance(out[-1], CancelResponse) and out[-1].response_id == rid
    assert harness.check(core.response_audio(rid, bytes(4800))) == []  # late engine output
    error = harness.error(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 2500,
        }
    )
    assert (error["code"], error["param"]) == ("invalid_value", "audio_end_ms")
    assert "2000ms" in error["message"]
    error = harness.error(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 1,
            "audio_end_ms": 100,
        }
    )
    assert error["param"] == "content_index"
    out = harness.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 500,
        }
    )
    assert types(out) == ["conversation.item.truncated"] and out[0]["audio_end_ms"] == 500  # type: ignore[index]
    item = core.conversation.get(item_id)
    assert item is not None
    transcript = item["content"][0]["transcript"]
    assert transcript == "Once upon"
    next_start = harness.create_response()
    assert next_start.request.messages[-1] == {"role": "assistant", "content": "Once upon"}


def test_interrupt_response_false_keeps_the_response() -> None:
    harness = Harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}
                },
            },
        }
    )
    harness.user_text("hi")
    harness.create_response()
    out = harness.check(harness.core.vad_frames([(0.0, 32.0, 0.95)], harness.now))
    assert types(out) == ["input_audio_buffer.speech_started"]
    assert harness.core.default_response_id is not None


def test_client_cancel() -> None:
    harness = Harness()
    harness.user_text("hi")
    start = harness.create_response()
    out = harness.send({"type": "response.cancel", "event_id": "evt_c"})
    assert types(out) == ["response.done", "CancelResponse"]
    assert out[0]["response"]["status_details"] == {
        "type": "cancelled",
        "reason": "client_cancelled",
    }  # type: ignore[index]
    assert out[0]["response"]["output"] == []  # type: ignore[index]
    error = harness.error({"type": "response.cancel", "response_id": start.response_id})
    assert error["code"] == "response_cancel_not_active"


def test_out_of_band_response_with_input_items() -> None:
    harness = Harness()
    first = harness.user_text("in the conversation")[0]["item"]["id"]  # type: ignore[index]
    start = harness.create_response(
        {
            "conversation": "none",
            "output_modalities": ["text"],
            "instructions": "Classify.",
            "input": [
                {"type": "item_reference", "id": first},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "extra"}],
                },
            ],
        }
    )
    assert start.request.messages == [
        {"role": "system", "content": "Classify."},
        {"role": "user", "content": "in the conversation"},
        {"role": "user", "content": "extra"},
    ]
    out = harness.check(harness.core.response_text(start.response_id, "positive"))
    out += harness.check(harness.core.response_finished(start.response_id, harness.now))
    assert "conversation.item.added" not in types(out)
    assert "conversation.item.done" not in types(out)
    assert out[-1]["response"]["conversation_id"] is None  # type: ignore[index]
    assert harness.core.conversation.ids() == [first]


def test_item_create_with_previous_item_id_and_delete() -> None:
    harness = Harness()
    a = harness.user_text("a")[0]["item"]["id"]  # type: ignore[index]
    b = harness.user_text("b")[0]["item"]["id"]  # type: ignore[index]
    out = harness.send(
        {
            "type": "conversation.item.create",
            "previous_item_id": "root",
            "item": {
                "id": "item_first",
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "sys"}],
            },
        }
    )
    assert out[0]["previous_item_id"] is None  # type: ignore[index]
    out = harness.send(
        {
            "type": "conversation.item.create",
            "previous_item_id": a,
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "x"}],
            },
        }
    )
    middle = out[0]["item"]["id"]  # type: ignore[index]
    assert out[0]["previous_item_id"] == a  # type: ignore[index]
    assert harness.core.conversation.ids() == ["item_first", a, middle, b]
    error = harness.error(
        {
            "type": "conversation.item.create",
            "item": {"id": a, "type": "message", "role": "user", "content": []},
        }
    )
    assert error["param"] == "item.id"
    out = harness.send({"type": "conversation.item.delete", "item_id": middle})
    assert types(out) == ["conversation.item.deleted"] and out[0]["item_id"] == middle  # type: ignore[index]
    assert harness.core.conversation.ids() == ["item_first", a, b]


def test_g711_input_commit() -> None:
    harness = Harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcma"}, "turn_detection": None}},
            },
        }
    )
    harness.send(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(799)).decode()}
    )
    assert (
        harness.error({"type": "input_audio_buffer.commit"})["code"]
        == "input_audio_buffer_commit_empty"
    )
    harness.send(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(1)).decode()}
    )
    out = harness.send({"type": "input_audio_buffer.commit"})
    transcribe = next(o for o in out if isinstance(o, Transcribe))
    assert transcribe.audio_format == "g711_alaw" and len(transcribe.audio) == 800


def test_idle_timeout_triggers_a_response() -> None:
    harness = Harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}
                },
            },
        }
    )
    harness.user_text("hi")
    start = harness.create_response()
    harness.check(harness.core.response_audio(start.response_id, bytes(48 * 1000)))
    harness.check(harness.core.response_finished(start.response_id, harness.now))
    assert harness.core.tick(harness.now + 5.9) == []  # 1 s of audio + 5 s idle
    out = harness.check(harness.core.tick(harness.now + 6.0))
    assert types(out)[:5] == [
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "Transcribe",
    ]
    assert "response.created" in types(out)


def test_voice_cannot_change_after_audio() -> None:
    harness = Harness()
    harness.user_text("hi")
    start = harness.create_response()
    harness.core.response_audio(start.response_id, bytes(4800))
    error = harness.error(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "echo"}}},
        }
    )
    assert (error["code"], error["param"]) == ("cannot_update_voice", "session.audio.output.voice")
