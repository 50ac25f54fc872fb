"""Sans-I/O parts without sockets: sequencing, replay bounds, settings translation, items."""

from __future__ import annotations

import json

import pytest

from realtime_agents.inputs import RealtimeModelSendAudio, RealtimeModelSendUserInput
from realtime_agents.items import AssistantMessageItem, FunctionCallItem, OutputAudio
from realtime_agents.providers.openai import wire
from realtime_agents.providers.openai.history import ConversationHistory, UnsentAudio
from realtime_agents.providers.openai.protocol import OpenAIRealtimeProtocol
from realtime_agents.providers.openai.redact import redact_text, redact_url
from realtime_agents.providers.openai.turns import ResponseSequencer
from realtime_agents.providers.openai.websocket import build_url


def _types(frames: list[bytes]) -> list[str]:
    return [json.loads(f)["type"] for f in frames]


def test_sequencer_waits_coalesces_and_requeues_on_conflict() -> None:
    seq = ResponseSequencer()
    first = seq.request()
    assert _types(first) == ["response.create"]
    event_id = json.loads(first[0])["event_id"]
    assert seq.request() == [] and seq.request() == []  # in flight: queued, then coalesced
    assert seq.request({"instructions": "x"}) == []
    assert seq.pending_count == 2
    seq.on_response_created("resp_1")
    assert seq.on_error(event_id, "conversation_already_has_active_response") == []
    nxt = seq.on_response_done("resp_1")
    assert _types(nxt) == ["response.create"] and "response" not in json.loads(nxt[0])
    rejected = json.loads(nxt[0])["event_id"]
    # The server's own (VAD) response beat ours: ours goes back to the head of the queue.
    assert seq.on_error(rejected, "conversation_already_has_active_response") == []
    assert seq.pending_count == 2
    again = seq.on_response_done("")
    assert json.loads(again[0]).get("response") is None
    seq.on_response_created("resp_2")
    last = seq.on_response_done("resp_2")
    assert json.loads(last[0])["response"] == {"instructions": "x"}


def test_sequencer_resends_an_unanswered_create_after_a_disconnect() -> None:
    seq = ResponseSequencer()
    seq.request()
    assert seq.on_disconnect() == []
    assert seq.request() == []  # paused
    resent = seq.resume()
    assert _types(resent) == ["response.create"]
    assert seq.pending_count == 0  # the two plain creates were coalesced


def test_history_is_bounded_with_one_clear_error() -> None:
    history = ConversationHistory(max_items=2)
    errors = [
        history.observe(AssistantMessageItem(item_id=f"i{n}", content=(OutputAudio("t"),)))[1]
        for n in range(4)
    ]
    assert errors[0] is None and errors[1] is None
    assert errors[2] is not None and errors[2].error.code == "replay_history_overflow"
    assert errors[3] is None  # reported once per episode
    assert [i.item_id for i in history.items()] == ["i2", "i3"]


def test_unsent_audio_is_bounded_with_one_clear_error() -> None:
    audio = UnsentAudio(max_bytes=10)
    assert audio.append(b"12345") is None
    error = audio.append(b"678901")
    assert error is not None and error.error.code == "replay_audio_overflow"
    assert audio.size == 6
    audio.clear()
    assert audio.size == 0 and audio.replay_frames() == []


def test_function_output_joins_its_call_and_replays_as_two_items() -> None:
    history = ConversationHistory()
    call = FunctionCallItem(item_id="f1", call_id="c1", name="get", arguments="{}")
    history.observe(call)
    joined, _ = history.observe(FunctionCallItem(item_id="o1", call_id="c1", name="", output="42"))
    assert (joined.item_id, joined.name, joined.output) == ("f1", "get", "42")
    frames = [json.loads(f)["item"] for f in history.replay_frames()]
    assert frames == [
        {"id": "f1", "type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]


def test_session_settings_are_translated_to_ga_in_one_place() -> None:
    payload = wire.session_payload(
        {
            "model_name": "gpt-realtime",
            "modalities": ["text"],
            "voice": "marin",
            "input_audio_format": "g711_ulaw",
            "turn_detection": {"type": "server_vad", "silenceDurationMs": 300},
            "max_response_output_tokens": 100,
        }
    )
    assert payload == {
        "type": "realtime",
        "model": "gpt-realtime",
        "output_modalities": ["text"],
        "max_output_tokens": 100,
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
            },
            "output": {"voice": "marin"},
        },
    }
    assert wire.session_payload({}) == {"type": "realtime"}


def test_audio_sent_before_the_session_is_ready_is_kept_in_order() -> None:
    protocol = OpenAIRealtimeProtocol({"instructions": "x"})
    protocol.send(RealtimeModelSendAudio(b"\1\2", commit=True), 0.0)
    protocol.send(RealtimeModelSendUserInput("hi"), 0.0)
    protocol.receive(b'{"type":"session.created","session":{"type":"realtime"}}', 0.0)
    kinds = [json.loads(frame)["type"] for _, frame in protocol.outbox]
    assert kinds == [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "conversation.item.create",
        "response.create",
    ]


def test_urls_and_text_are_redacted() -> None:
    assert redact_url("wss://u:p@h/v1/realtime?model=m&api-key=sk-1") == (
        "wss://h/v1/realtime?model=m&api-key=***"
    )
    assert redact_text("Authorization: Bearer sk-123", ()) == "Authorization: ***"
    assert redact_text("key sk-abcdef here", ("sk-abcdef",)) == "key *** here"


def test_build_url() -> None:
    assert build_url({}) == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert build_url({"call_id": "rtc_1"}) == "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    assert build_url({"initial_model_settings": {"model_name": "gpt-realtime-mini"}}).endswith(
        "?model=gpt-realtime-mini"
    )
    assert build_url({"url": "ws://x/r?model=m", "call_id": "c"}) == "ws://x/r?model=m&call_id=c"
    with pytest.raises(ValueError, match="call_id"):
        build_url({"call_id": "c", "initial_model_settings": {"model_name": "m"}})
