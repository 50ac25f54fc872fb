"""Turn taking over real sockets: semantic end of turn, backchannels, echo, real barge-in."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest
import websockets
from turns_scripted import REPLY, HummingStt
from websockets.asyncio.client import ClientConnection

from realtime_agents.server import RealtimeServer
from realtime_agents.server.turns.interruptions import BACKCHANNEL_PROMPT

RATE = 24_000


def tone(ms: int, frequency: float = 300.0, amplitude: float = 0.3) -> np.ndarray:
    time = np.arange(ms * RATE // 1000) / RATE
    return amplitude * np.sin(2 * np.pi * frequency * time) * 32767


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * RATE // 1000)


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))


async def send_audio(ws: ClientConnection, samples: np.ndarray) -> None:
    """Append `samples` in 100 ms chunks."""
    pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    step = RATE // 10 * 2
    for begin in range(0, len(pcm), step):
        chunk = base64.b64encode(pcm[begin : begin + step]).decode()
        await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})


async def until(ws: ClientConnection, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """Receive into `seen` up to the first event of type `kind` (failing after 20 s)."""
    async with asyncio.timeout(20):
        while True:
            event: dict[str, Any] = json.loads(await ws.recv())
            seen.append(event)
            if event["type"] == kind:
                return event


async def session(server: RealtimeServer, turn_detection: dict[str, Any]) -> ClientConnection:
    ws = await websockets.connect(server.url + "?model=local")
    await until(ws, "session.created", [])
    update = {"type": "realtime", "audio": {"input": {"turn_detection": turn_detection}}}
    await send(ws, {"type": "session.update", "session": update})
    await until(ws, "session.updated", [])
    return ws


async def ask(ws: ClientConnection, seen: list[dict[str, Any]], deltas: int = 1) -> None:
    """A typed question, and the answer's first `deltas` audio deltas (100 ms each)."""
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Talk to me"}],
    }
    await send(ws, {"type": "conversation.item.create", "item": item})
    await send(ws, {"type": "response.create"})
    for _ in range(deltas):
        await until(ws, "response.output_audio.delta", seen)


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


@pytest.mark.parametrize("kind", ["semantic_vad", "server_vad"])
async def test_a_paused_utterance_is_one_turn_under_semantic_vad(
    turn_server: RealtimeServer, kind: str
) -> None:
    ws = await session(turn_server, {"type": kind})
    seen: list[dict[str, Any]] = []
    # "I'd like to set a timer for" ... 1 s ... "ten minutes."
    await send_audio(ws, np.concatenate([silence(200), tone(900), silence(1000)]))
    await send_audio(ws, np.concatenate([tone(600), silence(1000)]))
    await until(ws, "response.done", seen)
    committed = of_type(seen, "input_audio_buffer.committed")
    if kind == "server_vad":  # silence alone: the pause ended a turn (what semantic_vad avoids)
        assert (
            len(committed) == 1
            and of_type(seen, "input_audio_buffer.speech_stopped")[0]["audio_end_ms"] < 2200
        )
        await ws.close()
        return
    assert len(committed) == 1
    stopped = of_type(seen, "input_audio_buffer.speech_stopped")
    assert len(stopped) == 1 and stopped[0]["audio_end_ms"] > 2700  # after "ten minutes"
    assert len(of_type(seen, "input_audio_buffer.speech_started")) == 1
    await ws.close()


@pytest.mark.parametrize("recovery", [True, False])
async def test_a_backchannel_during_an_answer_resumes_it(
    turn_server: RealtimeServer, recovery: bool
) -> None:
    ws = await session(turn_server, {"type": "semantic_vad", "false_interruption": recovery})
    seen: list[dict[str, Any]] = []
    await ask(ws, seen, deltas=10)  # the input timeline is still at 0: a second is playing
    await send_audio(ws, np.concatenate([silence(200), tone(300), silence(700)]))  # "mm-hm"
    done = await until(ws, "response.done", seen)
    if not recovery:
        assert done["response"]["status"] == "cancelled"
        assert of_type(seen, "input_audio_buffer.speech_started")
        await ws.close()
        return
    await assert_one_continuous_answer(ws, done, seen)
    await ws.close()


def audio_bytes(events: list[dict[str, Any]]) -> int:
    deltas = of_type(events, "response.output_audio.delta")
    return sum(len(base64.b64decode(delta["delta"])) for delta in deltas)


async def assert_one_continuous_answer(
    ws: ClientConnection, done: dict[str, Any], seen: list[dict[str, Any]]
) -> None:
    """The answer was held and resumed: the client saw no speech, one response, the whole
    reply in one item, and as much audio as the same answer undisturbed."""
    assert done["response"]["status"] == "completed"
    assert not of_type(seen, "input_audio_buffer.speech_started")
    assert not of_type(seen, "input_audio_buffer.committed")
    assert len(of_type(seen, "response.created")) == 1
    transcript = of_type(seen, "response.output_audio_transcript.done")[0]["transcript"]
    assert transcript == REPLY  # the whole answer, resumed where it paused
    assert len({delta["item_id"] for delta in of_type(seen, "response.output_audio.delta")}) == 1
    again: list[dict[str, Any]] = []  # the same answer, undisturbed
    await ask(ws, again)
    await until(ws, "response.done", again)
    assert audio_bytes(seen) == audio_bytes(again)  # nothing lost, nothing repeated


@pytest.mark.parametrize("prompted", ["Mm-hm.", "Berlin, not Paris."])
async def test_a_hum_longer_than_min_interruption_ms_resumes_unless_it_holds_words(
    hum_server: RealtimeServer, humming_stt: HummingStt, prompted: str
) -> None:
    humming_stt.prompted = prompted  # what the transcription biased toward backchannels hears
    ws = await session(hum_server, {"type": "semantic_vad"})
    seen: list[dict[str, Any]] = []
    await ask(ws, seen, deltas=10)  # a second is playing
    hum = np.concatenate([silence(200), tone(1400)])  # held past min_interruption_ms (1000)
    await send_audio(ws, hum[: len(hum) * 5 // 7])
    await asyncio.sleep(0.3)  # the check of the speech so far may come before its end
    await send_audio(ws, np.concatenate([hum[len(hum) * 5 // 7 :], silence(900)]))
    done = await until(ws, "response.done", seen)
    assert BACKCHANNEL_PROMPT in humming_stt.prompts  # "I make him...": a second opinion
    if prompted != "Mm-hm.":
        assert done["response"]["status"] == "cancelled"
        assert of_type(seen, "input_audio_buffer.speech_started")
        await ws.close()
        return
    await assert_one_continuous_answer(ws, done, seen)
    await ws.close()


def band_limited_echo(audio: bytes, delay_ms: int, level_db: float) -> np.ndarray:
    """The assistant's audio as a speakerphone sends it back: delayed, quieter, filtered."""
    samples = np.frombuffer(audio, dtype="<i2").astype(np.float64)
    filtered = np.convolve(samples, [0.2, 0.5, 0.2, -0.1], mode="full")[: len(samples)]
    return np.concatenate([silence(delay_ms), filtered * 10 ** (level_db / 20)])


@pytest.mark.parametrize("suppression", [True, False])
async def test_echo_of_the_assistant_does_not_start_speech(
    turn_server: RealtimeServer, suppression: bool
) -> None:
    detection = {
        "type": "semantic_vad",
        "echo_suppression": suppression,
        "false_interruption": suppression,
    }
    ws = await session(turn_server, detection)
    seen: list[dict[str, Any]] = []
    await ask(ws, seen)
    await until(ws, "response.done", seen)
    played = b"".join(
        base64.b64decode(delta["delta"]) for delta in of_type(seen, "response.output_audio.delta")
    )
    echo = band_limited_echo(played, delay_ms=120, level_db=-6)
    echo_end_ms = len(echo) * 1000 // RATE
    await send_audio(ws, echo)
    await send_audio(ws, np.concatenate([silence(500), tone(1200), silence(800)]))  # a person
    started = await until(ws, "input_audio_buffer.speech_started", seen)
    if suppression:
        assert started["audio_start_ms"] >= echo_end_ms  # the person, not the echo
    else:
        assert started["audio_start_ms"] < echo_end_ms  # the echo interrupted itself
    await ws.close()


async def test_a_real_interruption_still_truncates_correctly(turn_server: RealtimeServer) -> None:
    ws = await session(turn_server, {"type": "semantic_vad"})
    seen: list[dict[str, Any]] = []
    await ask(ws, seen, deltas=10)
    item_id = of_type(seen, "response.output_audio.delta")[0]["item_id"]
    # the person talks over the answer (and its echo) for 1.5 s
    await send_audio(ws, np.concatenate([silence(200), tone(1500), silence(900)]))
    started = await until(ws, "input_audio_buffer.speech_started", seen)
    assert started["audio_start_ms"] == 0  # 200 ms of silence, 300 ms of prefix padding
    done = await until(ws, "response.done", seen)
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    await send(
        ws,
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 400,
        },
    )
    truncated = await until(ws, "conversation.item.truncated", seen)
    assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == 400
    if not of_type(seen, "response.created")[1:]:  # the interruption's own turn and answer
        await until(ws, "response.created", seen)
    committed = of_type(seen, "input_audio_buffer.committed")
    assert len(committed) == 1 and committed[0]["item_id"] == started["item_id"]
    assert not of_type(seen, "error")
    await ws.close()
