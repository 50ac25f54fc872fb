"""The sans-I/O core under semantic_vad: the words at a pause decide whether the turn ends."""

from __future__ import annotations

import base64

import pytest

from realtime_agents.server.effects import Output, StartResponse, TranscribeTurn
from realtime_agents.server.protocol import SessionProtocol
from realtime_agents.server.turns.interruptions import BACKCHANNEL_PROMPT


def frames(start_ms: float, count: int, probability: float) -> list[tuple[float, float, float]]:
    return [(start_ms + 32 * i, start_ms + 32 * (i + 1), probability) for i in range(count)]


def kinds(outputs: list[Output]) -> list[str]:
    return [o["type"] if isinstance(o, dict) else type(o).__name__ for o in outputs]


def speak(core: SessionProtocol, head_words: str) -> list[Output]:
    """700 ms of speech, a 960 ms pause (its transcript: `head_words`), 600 ms more, silence."""
    audio = base64.b64encode(bytes(2 * 24 * 4000)).decode()
    core.receive({"type": "input_audio_buffer.append", "audio": audio}, 0.0)
    out: list[Output] = []
    for start, count, probability, words in (
        (0.0, 22, 0.9, None),
        (704.0, 30, 0.05, head_words),
        (1664.0, 19, 0.9, None),
        (2272.0, 30, 0.05, "I'd like to set a timer for ten minutes."),
    ):
        for frame in frames(start, count, probability):
            step = core.vad_frames([frame], 0.0)
            out += step
            for effect in step:
                if isinstance(effect, TranscribeTurn) and words is not None:
                    out += core.turn_transcript(effect.request, words, 0.0)
    return out


def semantic_core() -> SessionProtocol:
    core = SessionProtocol(model="test", now=0.0)
    update = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    core.receive({"type": "session.update", "session": update}, 0.0)
    return core


def test_unfinished_words_at_a_pause_keep_the_turn_open() -> None:
    out = speak(semantic_core(), "I'd like to set a timer for")
    assert kinds(out).count("input_audio_buffer.committed") == 1
    stopped = [o for o in out if isinstance(o, dict) and o["type"].endswith("speech_stopped")]
    assert stopped[0]["audio_end_ms"] > 2272


@pytest.mark.parametrize("words", ["What's the weather in Paris?", "Set a timer for ten minutes."])
def test_finished_words_at_the_same_pause_end_the_turn_there(words: str) -> None:
    out = speak(semantic_core(), words)
    stopped = [o for o in out if isinstance(o, dict) and o["type"].endswith("speech_stopped")]
    assert stopped[0]["audio_end_ms"] < 1664  # ended in the pause
    assert kinds(out).count("input_audio_buffer.committed") == 2


def test_server_vad_ends_the_turn_at_any_pause() -> None:
    core = SessionProtocol(model="test", now=0.0)  # server_vad, 200 ms of silence
    out = speak(core, "I'd like to set a timer for")
    assert kinds(out).count("input_audio_buffer.committed") == 2
    assert "TranscribeTurn" not in kinds(out)


def answering_core() -> tuple[SessionProtocol, str]:
    """A semantic_vad session whose answer has 3 s of audio playing from input time 0."""
    core = semantic_core()
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    core.receive({"type": "conversation.item.create", "item": item}, 0.0)
    start = next(
        o for o in core.receive({"type": "response.create"}, 0.0) if isinstance(o, StartResponse)
    )
    core.response_audio(start.response_id, bytes(2 * 24 * 3000))
    audio = base64.b64encode(bytes(2 * 24 * 3000)).decode()
    core.receive({"type": "input_audio_buffer.append", "audio": audio}, 0.0)
    return core, start.response_id


def feed(
    core: SessionProtocol, start_ms: float, count: int, probability: float, heard: list[str]
) -> tuple[list[Output], list[TranscribeTurn]]:
    """Frames; each transcript request is answered with the next of `heard`."""
    out: list[Output] = []
    requests: list[TranscribeTurn] = []
    pending = list(frames(start_ms, count, probability))
    for frame in pending:
        step = core.vad_frames([frame], 0.0)
        while any(isinstance(effect, TranscribeTurn) for effect in step):
            request = next(e for e in step if isinstance(e, TranscribeTurn))
            requests.append(request)
            out += step
            step = core.turn_transcript(request.request, heard.pop(0), 0.0)
        out += step
    return out, requests


def test_a_hum_longer_than_min_interruption_ms_is_checked_held_and_resumed() -> None:
    core, response_id = answering_core()
    heard = ["I'm out of my chest.", "Mm-hm.", "Mm-hm."]
    out, requests = feed(core, 0.0, 44, 0.9, heard)  # 1.4 s of hum
    # at 1000 ms, and a second opinion on the words heard in the hum cut off there
    assert [(r.fresh, r.prompt) for r in requests] == [(True, None), (True, BACKCHANNEL_PROMPT)]
    assert not any(k.startswith("input_audio_buffer") for k in kinds(out))
    more, requests = feed(core, 44 * 32, 20, 0.05, heard)  # then silence
    assert [r.prompt for r in requests] == [None] and heard == []
    assert not any(k.startswith("input_audio_buffer") for k in kinds(out + more))
    assert core.default_response_id == response_id  # the answer goes on
    assert not core.turns.arbiter.holding


def test_speech_going_on_with_words_interrupts_at_the_check() -> None:
    core, _ = answering_core()
    heard = ["Can you tell me about Berlin", "Can you tell me about Berlin"]
    out, requests = feed(core, 0.0, 40, 0.9, heard)
    assert [r.prompt for r in requests] == [None, BACKCHANNEL_PROMPT] and heard == []
    assert "input_audio_buffer.speech_started" in kinds(out)
    done = [o for o in out if isinstance(o, dict) and o["type"] == "response.done"]
    assert done[0]["response"]["status"] == "cancelled"


def test_max_hold_ms_is_a_validated_session_option() -> None:
    core = SessionProtocol(model="test", now=0.0)
    detection = {"type": "semantic_vad", "false_interruption": {"max_hold_ms": 1800}}
    update = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
    out = core.receive({"type": "session.update", "session": update}, 0.0)
    updated = next(o for o in out if isinstance(o, dict) and o["type"] == "session.updated")
    echoed = updated["session"]["audio"]["input"]["turn_detection"]["false_interruption"]
    assert echoed["max_hold_ms"] == 1800
    assert core.turns.arbiter.rules.max_hold_ms == 1800
    detection["false_interruption"] = {"max_hold_ms": -5}
    out = core.receive({"type": "session.update", "session": update}, 0.0)
    errors = [o for o in out if isinstance(o, dict) and o["type"] == "error"]
    assert errors and "max_hold_ms" in errors[0]["error"]["param"]
