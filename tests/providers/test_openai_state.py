"""Sans-I/O parts without sockets: sequencing, replay bounds, settings translation, items."""

from __future__ import annotations

import base64
import json

import pytest

from realtime_agents.inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendDeleteItem,
    RealtimeModelSendUserInput,
)
from realtime_agents.items import AssistantMessageItem, FunctionCallItem, OutputAudio
from realtime_agents.providers.openai import wire
from realtime_agents.providers.openai.options import build_url
from realtime_agents.providers.openai.protocol import OpenAIRealtimeProtocol
from realtime_agents.providers.openai.redact import redact_text, redact_url
from realtime_agents.providers.openai.replay import ReplayHistory, UnsentAudio
from realtime_agents.providers.openai.turns import ResponseSequencer


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
    history = ReplayHistory(max_items=2)
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
    history = ReplayHistory()
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


def _replayed_audio(protocol: OpenAIRealtimeProtocol) -> bytes:
    protocol.on_connection_lost()
    return b"".join(
        base64.b64decode(json.loads(frame)["audio"])
        for kind, frame in protocol.outbox
        if kind == "audio"
    )


def _server(protocol: OpenAIRealtimeProtocol, event: dict[str, object]) -> None:
    protocol.receive(json.dumps(event).encode(), 0.0)


def test_audio_sent_after_a_vad_commit_point_survives_its_ack() -> None:
    # 200 ms of speech, then 100 ms more sent before the server's commit reached the client:
    # the commit (speech ended at 200 ms) must not drop the later 100 ms from the replay.
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    speech, later = bytes([1]) * 9600, bytes([2]) * 4800
    protocol.send(RealtimeModelSendAudio(speech), 0.0)
    protocol.send(RealtimeModelSendAudio(later), 0.0)
    _server(
        protocol,
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 200, "item_id": "u1"},
    )
    _server(protocol, {"type": "input_audio_buffer.committed", "item_id": "u1"})
    assert protocol.unsent_audio.size == len(later)
    assert _replayed_audio(protocol) == later


def test_vad_offsets_count_from_the_audio_replayed_to_the_new_connection() -> None:
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    first, second = bytes([1]) * 4800, bytes([2]) * 4800
    protocol.send(RealtimeModelSendAudio(first), 0.0)
    protocol.send(RealtimeModelSendAudio(second), 0.0)
    assert _replayed_audio(protocol) == first + second  # nothing was committed
    # The new server counts from the first replayed byte: its 100 ms is the end of `first`.
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    _server(
        protocol, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 100, "item_id": "u"}
    )
    _server(protocol, {"type": "input_audio_buffer.committed", "item_id": "u"})
    assert _replayed_audio(protocol) == second


def test_client_commit_drops_only_the_audio_before_it_once_acknowledged() -> None:
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    protocol.send(RealtimeModelSendAudio(bytes([1]) * 4800, commit=True), 0.0)
    protocol.send(RealtimeModelSendAudio(bytes([2]) * 960), 0.0)
    assert protocol.unsent_audio.size == 4800 + 960  # not acknowledged yet: both kept
    _server(protocol, {"type": "input_audio_buffer.committed", "item_id": "u"})
    assert _replayed_audio(protocol) == bytes([2]) * 960


def test_g711_input_offsets_use_its_byte_rate() -> None:
    protocol = OpenAIRealtimeProtocol()
    session = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    _server(protocol, {"type": "session.created", "session": session})
    protocol.send(RealtimeModelSendAudio(bytes([1]) * 1600), 0.0)  # 200 ms at 8 kHz
    protocol.send(RealtimeModelSendAudio(bytes([2]) * 800), 0.0)
    _server(
        protocol, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 200, "item_id": "u"}
    )
    _server(protocol, {"type": "input_audio_buffer.committed", "item_id": "u"})
    assert _replayed_audio(protocol) == bytes([2]) * 800


def _user_turn(protocol: OpenAIRealtimeProtocol, audio: bytes, item_id: str) -> None:
    protocol.send(RealtimeModelSendAudio(audio), 0.0)
    end_ms = (protocol.unsent_audio._appended) // 48
    _server(
        protocol,
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id},
    )
    _server(protocol, {"type": "input_audio_buffer.committed", "item_id": item_id})
    user = {"id": item_id, "type": "message", "role": "user"}
    user["content"] = [{"type": "input_audio", "transcript": None}]
    _server(protocol, {"type": "conversation.item.added", "item": user})


def _replayed_items(protocol: OpenAIRealtimeProtocol) -> list[dict[str, object]]:
    protocol.on_connection_lost()
    protocol.receive(b'{"type":"session.created","session":{"type":"realtime"}}', 0.0)
    return [
        json.loads(frame)["item"]
        for _, frame in protocol.outbox
        if json.loads(frame)["type"] == "conversation.item.create"
    ]


def test_user_audio_without_a_transcript_is_reseeded_as_audio() -> None:
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    spoken = bytes(range(256)) * 30
    _user_turn(protocol, spoken, "u1")
    items = _replayed_items(protocol)
    assert [i["role"] for i in items] == ["user"]
    part = items[0]["content"][0]  # type: ignore[index]
    assert part["type"] == "input_audio"
    assert base64.b64decode(part["audio"]) == spoken


def test_a_transcript_replaces_the_kept_audio() -> None:
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    _user_turn(protocol, bytes(4800), "u1")
    _server(
        protocol,
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "u1",
            "content_index": 0,
            "transcript": "hello there",
        },
    )
    assert protocol.history._audio is None  # the audio is no longer held
    items = _replayed_items(protocol)
    assert items[0]["content"] == [{"type": "input_text", "text": "hello there"}]


def test_kept_user_audio_is_bounded_and_reported_once() -> None:
    history = ReplayHistory(max_audio_bytes=10)
    assert history.keep_user_audio("a", b"123456") is None
    error = history.keep_user_audio("b", b"7890123")
    assert error is not None and error.error.code == "replay_history_audio_overflow"
    assert history.keep_user_audio("c", b"1") is None  # same episode: reported once
    assert history._audio is not None and list(history._audio) == ["b", "c"]


def test_delete_item_sends_conversation_item_delete_and_is_not_replayed() -> None:
    protocol = OpenAIRealtimeProtocol()
    _server(protocol, {"type": "session.created", "session": {"type": "realtime"}})
    _user_turn(protocol, bytes(4800), "u1")
    _user_turn(protocol, bytes(4800), "u2")
    protocol.outbox.clear()
    protocol.send(RealtimeModelSendDeleteItem(item_id="u1"), 0.0)
    assert [(kind, json.loads(frame)) for kind, frame in protocol.outbox] == [
        ("item", {"type": "conversation.item.delete", "item_id": "u1"})
    ]
    assert [i["id"] for i in _replayed_items(protocol)] == ["u2"]
