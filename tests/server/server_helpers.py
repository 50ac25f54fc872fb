"""A tiny harness around the sans-I/O core for unit tests."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter, ValidationError

from realtime_agents.server.effects import Output, ProtocolLimits, StartResponse
from realtime_agents.server.engines.base import EngineSet, LlmChunk, LlmRequest
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    ToolRule,
    scripted_engine_set,
)
from realtime_agents.server.protocol import SessionProtocol

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


class Harness:
    """Drives a `SessionProtocol` with a fake clock; validates every event it produces."""

    def __init__(self, limits: ProtocolLimits | None = None) -> None:
        self.now = 1_000.0
        self.core = SessionProtocol(model="test-model", now=self.now, limits=limits)
        self.start = self.check(self.core.start())

    def check(self, outputs: list[Output]) -> list[Output]:
        for output in outputs:
            if isinstance(output, dict):
                SERVER_EVENT.validate_python(output)
        return outputs

    def send(self, event: dict[str, Any]) -> list[Output]:
        return self.check(self.core.receive(event, self.now))

    def error(self, event: dict[str, Any]) -> dict[str, Any]:
        outputs = self.send(event)
        assert len(outputs) == 1 and isinstance(outputs[0], dict), outputs
        assert outputs[0]["type"] == "error", outputs
        error: dict[str, Any] = outputs[0]["error"]
        return error

    def user_text(self, text: str) -> list[Output]:
        return self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )

    def create_response(self, response: dict[str, Any] | None = None) -> StartResponse:
        event: dict[str, Any] = {"type": "response.create"}
        if response is not None:
            event["response"] = response
        return only_start(self.send(event))


def types(outputs: list[Output]) -> list[str]:
    """Event types, and effect class names, in order."""
    return [o["type"] if isinstance(o, dict) else type(o).__name__ for o in outputs]


def events(outputs: list[Output], kind: str) -> list[dict[str, Any]]:
    """The events of one type."""
    return [o for o in outputs if isinstance(o, dict) and o["type"] == kind]


def only_start(outputs: list[Output]) -> StartResponse:
    """The one StartResponse effect in `outputs`."""
    starts = [o for o in outputs if isinstance(o, StartResponse)]
    assert len(starts) == 1, types(outputs)
    return starts[0]


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


TRANSCRIPT = "Hello there."
"""What `watched_engines`' scripted speech-to-text hears in any audio."""


class WatchedLlm(ScriptedLlm):
    """A scripted LLM that records every call: `generate`, `prefill` and `prepare`."""

    def __init__(self) -> None:
        super().__init__(reply="A reply nobody should hear.")
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def _called(self, name: str) -> None:
        with self._lock:
            self.calls.append(name)

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        self._called("generate")
        return super().generate(request, cancel)

    def prefill(self, request: LlmRequest, cancel: threading.Event) -> None:
        self._called("prefill")

    def prepare(self, tools: Any, tool_choice: Any, instructions: Any) -> None:
        self._called("prepare")


class WatchedTts(ToneTts):
    """A tone TTS that records every synthesis."""

    def __init__(self) -> None:
        super().__init__(chunk_delay_s=0.001)
        self.texts: list[str] = []

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: threading.Event
    ) -> Iterator[bytes]:
        self.texts.append(text)
        return super().synthesize(text, voice=voice, speed=speed, cancel=cancel)


def watched_engines(stt: Any = None, vad: Any = None) -> tuple[EngineSet, WatchedLlm, WatchedTts]:
    llm, tts = WatchedLlm(), WatchedTts()
    engines = scripted_engine_set(stt=stt or ScriptedStt(default=TRANSCRIPT), llm=llm, tts=tts)
    if vad is not None:
        engines = EngineSet(vad=vad, stt=engines.stt, llm=llm, tts=tts)
    return engines, llm, tts
