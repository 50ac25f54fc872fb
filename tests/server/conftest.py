"""Shared fixtures: a scripted server on 127.0.0.1 whose every sent event is schema-checked."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter, ValidationError

from realtime_agents.server.app import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.base import EngineSet
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    ToolRule,
    scripted_engine_set,
)

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
LONG_REPLY = (
    "Sure, here is a longer answer. It has several clauses, each one synthesised on its own, "
    "so that the first audio starts early. The rest keeps streaming while you listen, and you "
    "may interrupt me at any moment by speaking over the audio."
)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class EventRecorder:
    """Validates every event the server sends against the openai GA server event union."""

    def __init__(self) -> None:
        self.count = 0
        self.invalid: list[tuple[dict[str, Any], str]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.count += 1
        try:
            SERVER_EVENT.validate_python(event)
        except ValidationError as error:
            self.invalid.append((event, str(error)))


@pytest.fixture(scope="session")
def recorder() -> EventRecorder:
    """One recorder for the whole suite."""
    return EventRecorder()


@pytest.fixture(autouse=True)
def _no_invalid_server_events(recorder: EventRecorder) -> Iterator[None]:
    """Fail the test during which the server sent an event the openai types reject."""
    before = len(recorder.invalid)
    yield
    new = recorder.invalid[before:]
    assert not new, f"server sent {len(new)} invalid event(s), first: {new[0]}"


def make_engines() -> EngineSet:
    """Scripted engines: a long reply, a weather tool trigger, a slowish TTS (barge-in window)."""
    return scripted_engine_set(
        stt=ScriptedStt(default="Hello there."),
        llm=ScriptedLlm(
            reply=LONG_REPLY,
            tool_rules=[ToolRule("weather", "get_weather", {"city": "Paris"})],
        ),
        tts=ToneTts(chunk_delay_s=0.01),
    )


@pytest.fixture
async def server(recorder: EventRecorder) -> AsyncIterator[RealtimeServer]:
    """A scripted server on a free loopback port with the test API key."""
    options = ServerOptions(api_key="test-key", event_hook=recorder)
    running = await serve("127.0.0.1", 0, make_engines(), options)
    try:
        yield running
    finally:
        await running.close()


def tone(ms: int, rate: int = 24000, amplitude: float = 0.3) -> bytes:
    """PCM16 speech stand-in: a 300 Hz tone (the energy VAD hears it as speech)."""
    t = np.arange(ms * rate // 1000) / rate
    return (amplitude * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes()


def silence(ms: int, rate: int = 24000) -> bytes:
    """PCM16 silence."""
    return bytes(2 * (ms * rate // 1000))


def utterance_chunks(speech_ms: int = 600, chunk_ms: int = 100) -> list[str]:
    """Base64 100 ms chunks: 200 ms silence, speech, then 800 ms silence."""
    audio = silence(200) + tone(speech_ms) + silence(800)
    size = 48 * chunk_ms
    return [base64.b64encode(audio[i : i + size]).decode() for i in range(0, len(audio), size)]
