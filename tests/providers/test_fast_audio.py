"""The audio delta fast path agrees with the full decoder on every frame it accepts."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_agents.events import RealtimeModelAudioEvent, RealtimeModelErrorEvent
from realtime_agents.providers.openai import frames, wire
from realtime_agents.providers.openai.protocol import AudioSkip, OpenAIRealtimeProtocol

PCM = bytes(range(256)) * 8


def full_decode(frame: bytes) -> RealtimeModelAudioEvent | None:
    decoded = frames.decode_server_frame(frame)
    if isinstance(decoded, frames.AudioDelta):
        return wire.audio_event(decoded)
    return None


def delta_frame(**fields: Any) -> bytes:
    return json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": "event_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            **fields,
        },
        separators=(",", ":"),
    ).encode()


def test_usual_layout_takes_the_fast_path_and_matches() -> None:
    for size in (0, 1, 2, 3, 1920):
        frame = delta_frame(delta=base64.b64encode(PCM[:size]).decode())
        fast = wire.fast_audio_event(frame)
        assert fast is not None
        assert fast == full_decode(frame)
        assert fast.data == PCM[:size]
    beta = delta_frame(type="response.audio.delta", delta="AAEC")
    assert wire.fast_audio_event(beta) == full_decode(beta)


def test_other_layouts_fall_back_to_the_full_decoder() -> None:
    b64 = base64.b64encode(PCM[:30] + b"\xff\xff\xff").decode()  # ends in "////"
    escaped = delta_frame(delta=b64).replace(b"/", b"\\/")  # a legal JSON escape
    assert b"\\/" in escaped
    not_last = json.dumps({"type": "response.output_audio.delta", "delta": b64, "item_id": "i"})
    for frame in (
        escaped,
        not_last.encode(),
        delta_frame(delta="not base64!"),
        delta_frame(delta="AAA"),  # bad padding
        delta_frame(delta=b64, content_index="zero"),
        delta_frame(delta=b64)[:-1],  # truncated
        b'{"type":"response.output_audio.delta","delta":"' + b64.encode() + b'"}',
        delta_frame(delta="AAAA")[:-2] + b'","delta":"BBBB"}',  # a duplicate key
        b'{"type":"response.output_audio.delta","a":"x,"delta":"AAAA"}',  # not JSON
    ):
        fast = wire.fast_audio_event(frame)
        assert fast is None or fast == full_decode(frame)
    assert wire.fast_audio_event(escaped) is None
    assert full_decode(escaped) is not None  # the full decoder reads the escape


def test_protocol_reports_bad_base64_on_either_path() -> None:
    protocol = OpenAIRealtimeProtocol()
    events = protocol.receive(delta_frame(delta="%%%%"), 0.0)
    assert len(events) == 1 and isinstance(events[0], RealtimeModelErrorEvent)
    assert events[0].frame_type == "response.output_audio.delta"


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=8), st.just("resp_1")
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["event_id", "response_id", "item_id", "output_index", "content_index", "x", "delta"]
        ),
        json_scalar,
        max_size=6,
    ),
    delta=st.one_of(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.text()),
    kind=st.sampled_from(["response.output_audio.delta", "response.audio.delta", "x"]),
    delta_last=st.booleans(),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
)
def test_fast_path_never_disagrees(
    fields: dict[str, Any], delta: str, kind: str, delta_last: bool, cut: int, flip: int
) -> None:
    body: dict[str, Any] = {"type": kind, **{k: v for k, v in fields.items() if k != "delta"}}
    if delta_last:
        body["delta"] = delta
    else:
        body = {"type": kind, "delta": delta, **body}
    frame = json.dumps(body, separators=(",", ":")).encode()
    mutated = bytearray(frame)
    if flip < len(mutated):
        mutated[flip] ^= 0x20
    for candidate in (frame, frame[: len(frame) - cut], bytes(mutated)):
        fast = wire.fast_audio_event(candidate)
        if fast is not None:
            assert fast == full_decode(candidate), candidate


def test_receive_audio_names_its_result_and_both_decoders_drop_late_audio() -> None:
    protocol = OpenAIRealtimeProtocol()
    usual = delta_frame(delta="AAEC")
    escaped = delta_frame(delta="AAE/").replace(b"/", b"\\/")  # only the full decoder reads it
    event = protocol.receive_audio(usual, 0.0)
    assert isinstance(event, RealtimeModelAudioEvent) and event.data == b"\x00\x01\x02"
    assert protocol.receive_audio(escaped, 0.0) is AudioSkip.NOT_AUDIO_DELTA
    assert protocol.receive_other(escaped, 0.0) == [full_decode(escaped)]
    assert protocol.receive_audio(b'{"type":"response.done"}', 0.0) is AudioSkip.NOT_AUDIO_DELTA
    assert protocol.playback.received_ms() > 0

    # A barge-in interrupts resp_1: its late audio is dropped by either decoder.
    barge_in = protocol.receive(
        b'{"type":"input_audio_buffer.speech_started","item_id":"user_1"}', 0.0
    )
    assert [e.type for e in barge_in][:1] == ["audio_interrupted"]
    assert protocol.receive_audio(usual, 0.0) is AudioSkip.DROPPED
    assert protocol.receive(usual, 0.0) == []
    assert protocol.receive(escaped, 0.0) == []
    other = delta_frame(delta="AAEC", response_id="resp_2")
    assert protocol.receive(other, 0.0) == [full_decode(other)]


def test_raw_events_send_audio_through_the_full_decoder() -> None:
    protocol = OpenAIRealtimeProtocol(emit_raw_events=True)
    frame = delta_frame(delta="AAEC")
    assert protocol.receive_audio(frame, 0.0) is AudioSkip.NOT_AUDIO_DELTA
    events = protocol.receive(frame, 0.0)
    assert [e.type for e in events] == ["raw_server_event", "audio"]
    assert events[1] == full_decode(frame)
