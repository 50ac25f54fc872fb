"""Two sessions speak to a server with room for one response (issue 14, item 10): the first
is answered, the second is told `server_at_capacity`; no turn is lost without a word."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from server_helpers import EventRecorder, Harness, tone, types, utterance_chunks
from socket_client import connect, kinds, receive, send, until
from websockets.asyncio.client import ClientConnection

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.capacity import ResponseCapacity
from realtime_agents.server.engines.base import LlmChunk, LlmRequest
from realtime_agents.server.engines.scripted import EnergyVad, ScriptedStt, scripted_engine_set

WAIT_S = 20.0
"""How long a test waits for an event that should come (a hang guard, not a timing check)."""


class HeldLlm:
    """An LLM whose replies wait for `release` (so the first turn is still in progress)."""

    name = "held"

    def __init__(self) -> None:
        self.release = threading.Event()

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        while not self.release.wait(0.01):
            if cancel.is_set():
                return
        yield LlmChunk(text="Here is your answer.")


@pytest.fixture
def held_llm() -> HeldLlm:
    return HeldLlm()


@pytest.fixture(params=[True, False], ids=["vad-on-loop", "vad-lane"])
async def room_for_one(
    request: pytest.FixtureRequest, recorder: EventRecorder, held_llm: HeldLlm
) -> AsyncIterator[RealtimeServer]:
    engines = scripted_engine_set(
        vad=EnergyVad(runs_inline=request.param), stt=ScriptedStt(default="Hi."), llm=held_llm
    )
    options = ServerOptions(api_key="test-key", event_hook=recorder, max_concurrent_responses=1)
    server = await serve("127.0.0.1", 0, engines, options)
    try:
        yield server
    finally:
        held_llm.release.set()
        await server.close()


async def speak(ws: ClientConnection) -> None:
    for chunk in utterance_chunks():
        await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})


async def test_the_second_speaker_is_told_the_server_is_at_capacity(
    room_for_one: RealtimeServer, held_llm: HeldLlm
) -> None:
    async with await connect(room_for_one.url) as first, await connect(room_for_one.url) as second:
        for ws in (first, second):
            await receive(ws)
        await speak(first)
        seen = await asyncio.wait_for(until(first, "response.created"), WAIT_S)
        assert "input_audio_buffer.speech_stopped" in kinds(seen)
        assert room_for_one.capacity.in_progress == 1

        await speak(second)
        seen = await asyncio.wait_for(until(second, "response.done"), WAIT_S)
        assert "input_audio_buffer.speech_stopped" in kinds(seen)  # the turn was heard...
        refused = seen[-1]["response"]
        assert refused["status"] == "failed"  # ...and refused, saying why
        assert refused["status_details"]["error"]["code"] == "server_at_capacity"
        assert "--max-concurrent-responses 1" in refused["status_details"]["error"]["message"]

        held_llm.release.set()
        seen = await asyncio.wait_for(until(first, "response.done"), WAIT_S)
        assert seen[-1]["response"]["status"] == "completed"
        assert "response.output_audio.delta" in kinds(seen)  # the first speaker is answered
        assert room_for_one.capacity.in_progress == 0


def test_a_turn_the_server_has_no_room_for_starts_no_speculative_work() -> None:
    """At the first silent frame the core would start STT, LLM and TTS ahead; at capacity that
    turn is refused anyway, so it costs the busy engines nothing."""
    harness = Harness()
    core = harness.core
    core.speculator.enabled = True
    core.capacity = ResponseCapacity(1)
    speech = base64.b64encode(tone(2000)).decode()
    harness.send({"type": "input_audio_buffer.append", "audio": speech})
    speaking = [(32.0 * i, 32.0 * (i + 1), 0.9) for i in range(20)]
    assert types(core.vad_frames(speaking, harness.now)) == ["input_audio_buffer.speech_started"]

    assert core.capacity.take()  # another session's response fills the server
    assert core.vad_frames([(640.0, 672.0, 0.1)], harness.now) == []
    core.capacity.give_back()  # room again: the next silent frame speculates
    assert types(core.vad_frames([(672.0, 704.0, 0.1)], harness.now)) == ["Speculate"]


def test_a_refused_turn_is_not_transcribed_and_says_so() -> None:
    """The turn's response is refused at capacity; its speech-to-text is too (it would only slow
    the turns in progress), and a client that asked for transcripts is told why there is none."""
    harness = Harness()
    core = harness.core
    core.capacity = ResponseCapacity(1)
    harness.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"transcription": {}}}},
        }
    )
    speech = base64.b64encode(tone(2000)).decode()
    harness.send({"type": "input_audio_buffer.append", "audio": speech})
    assert core.capacity.take()  # another session's response fills the server
    frames = [(32.0 * i, 32.0 * (i + 1), 0.9 if i < 20 else 0.1) for i in range(60)]
    out = harness.check(core.vad_frames(frames, harness.now))
    assert "Transcribe" not in types(out)
    assert types(out)[:2] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
    ]
    failed = [o for o in out if isinstance(o, dict) and o["type"].endswith("transcription.failed")]
    assert [f["error"]["code"] for f in failed] == ["server_at_capacity"]
    done = [o for o in out if isinstance(o, dict) and o["type"] == "response.done"]
    assert done[0]["response"]["status_details"]["error"]["code"] == "server_at_capacity"

    core.capacity.give_back()  # with room, the next turn is transcribed and answered
    harness.send({"type": "input_audio_buffer.append", "audio": speech})
    frames = [(1920 + 32.0 * i, 1920 + 32.0 * (i + 1), 0.9 if i < 20 else 0.1) for i in range(60)]
    out = core.vad_frames(frames, harness.now)
    assert "Transcribe" in types(out)
    assert "response.done" not in types(out)
