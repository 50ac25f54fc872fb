"""Engines that call an OpenAI-compatible HTTP API through the `openai` SDK.

Point `base_url` at vLLM, a llama.cpp server, Ollama or OpenAI itself to move the heavy models
off the realtime server: chat completions (streamed, with tools), audio transcriptions (a WAV
upload) and audio speech (raw 24 kHz PCM16, streamed).
"""

from __future__ import annotations

import io
import os
import threading
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from realtime_agents.audio import float32_to_pcm16
from realtime_agents.errors import RealtimeAgentsError
from realtime_agents.server.engines.base import (
    ChatMessage,
    Float32Array,
    LlmChunk,
    LlmRequest,
    LlmToolCall,
)
from realtime_agents.server.ids import new_call_id

SPEECH_SAMPLE_RATE: Final = 24_000
"""OpenAI's `response_format="pcm"` is 24 kHz mono PCM16 little-endian."""
_SPEECH_CHUNK_BYTES: Final = 4800
"""100 ms of 24 kHz PCM16 per streamed chunk."""


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """Where an HTTP engine sends its requests."""

    base_url: str | None = None
    """E.g. http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama); None: OpenAI."""
    api_key: str | None = None
    """None reads OPENAI_API_KEY, or sends a placeholder for servers that need no key."""
    timeout: float = 60.0
    max_retries: int = 1
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Never show the API key."""
        return f"HttpEndpoint(base_url={self.base_url!r}, timeout={self.timeout})"

    def client(self) -> Any:
        """A synchronous `openai.OpenAI` client for this endpoint."""
        try:
            import openai
        except ImportError as exc:
            raise RuntimeError(
                "HTTP engines need the openai SDK: install the `[http]` extra "
                "(pip install 'realtime-agents[http]')."
            ) from exc
        api_key = self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            default_headers=dict(self.extra_headers) or None,
        )


def chat_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Realtime function tools (`{type, name, description, parameters}`) in the chat shape."""
    converted: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type", "function") != "function":
            continue
        if "function" in tool:
            converted.append({"type": "function", "function": dict(tool["function"])})
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        converted.append({"type": "function", "function": function})
    return converted


def chat_tool_choice(tool_choice: str | Mapping[str, Any]) -> Any:
    """A Realtime tool_choice (`"auto"`, `{type: function, name}`) in the chat shape."""
    if isinstance(tool_choice, str):
        return tool_choice
    if "function" in tool_choice:
        return dict(tool_choice)
    return {"type": "function", "function": {"name": tool_choice.get("name")}}


def chat_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Chat messages as plain dicts for the SDK (assistant tool calls keep `content: null`)."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = dict(message)
        if item.get("role") == "assistant" and item.get("tool_calls") and not item.get("content"):
            item["content"] = None
        converted.append(item)
    return converted


class HttpEngineError(RealtimeAgentsError):
    """An OpenAI-compatible server failed or went away; the message names the server."""

    def __init__(self, endpoint: HttpEndpoint, error: BaseException) -> None:
        """Describe `error` (and its cause, e.g. the peer closing mid-body) at `endpoint`."""
        cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
        where = endpoint.base_url or "the OpenAI API"
        super().__init__(f"the server at {where} failed: {error}{cause}")


def _failures_named(stream: Any, endpoint: HttpEndpoint) -> Iterator[Any]:
    """The stream's chunks; a failure while reading becomes an `HttpEngineError`."""
    try:
        yield from stream
    except Exception as error:
        raise HttpEngineError(endpoint, error) from error


class HttpLanguageModel:
    """Streams chat completions, with tool calls, from an OpenAI-compatible server."""

    def __init__(
        self,
        model: str,
        endpoint: HttpEndpoint | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        """Use `model` at `endpoint` (OpenAI itself by default)."""
        self._endpoint = endpoint or HttpEndpoint()
        self._client = self._endpoint.client()
        self._model = model
        self._temperature = temperature
        self._max_tokens = max_tokens
        self.name = f"http:{model}"

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        """Yield text deltas as they arrive, then any tool calls once they are complete."""
        if cancel.is_set():
            return
        params: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(request.messages),
            "stream": True,
        }
        tools = chat_tools(request.tools)
        if tools:
            params["tools"] = tools
            params["tool_choice"] = chat_tool_choice(request.tool_choice)
        max_tokens = request.max_output_tokens or self._max_tokens
        if max_tokens:
            params["max_tokens"] = max_tokens
        if self._temperature is not None:
            params["temperature"] = self._temperature
        calls: dict[int, dict[str, str]] = {}
        try:
            stream = self._client.chat.completions.create(**params)
        except Exception as error:
            raise HttpEngineError(self._endpoint, error) from error
        try:
            for chunk in _failures_named(stream, self._endpoint):
                if cancel.is_set():
                    return
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    yield LlmChunk(text=delta.content)
                for call in delta.tool_calls or ():
                    slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function is not None:
                        name = call.function.name or ""
                        if name != slot["name"]:  # llama.cpp's server repeats the whole name
                            slot["name"] += name
                        slot["arguments"] += call.function.arguments or ""
        finally:
            stream.close()
        for index in sorted(calls):
            slot = calls[index]
            if slot["name"] and not cancel.is_set():
                yield LlmChunk(
                    tool_call=LlmToolCall(
                        name=slot["name"],
                        arguments=slot["arguments"] or "{}",
                        call_id=slot["id"] or new_call_id(),
                    )
                )


def wav_bytes(samples: Float32Array, sample_rate: int) -> bytes:
    """A mono 16-bit WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(float32_to_pcm16(samples))
    return buffer.getvalue()


class HttpSpeechToText:
    """Transcribes an utterance by uploading it as a WAV file (`/audio/transcriptions`)."""

    def __init__(
        self,
        model: str = "whisper-1",
        endpoint: HttpEndpoint | None = None,
        *,
        sample_rate: int = 16_000,
    ) -> None:
        """Use `model` at `endpoint`, sending audio at `sample_rate`."""
        self._endpoint = endpoint or HttpEndpoint()
        self._client = self._endpoint.client()
        self._model = model
        self.sample_rate = sample_rate
        self.name = f"http:{model}"

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        """The transcript returned by the server ("" for an empty utterance)."""
        if samples.size == 0:
            return ""
        params: dict[str, Any] = {
            "model": self._model,
            "file": ("audio.wav", wav_bytes(samples, self.sample_rate), "audio/wav"),
        }
        if language:
            params["language"] = language
        if prompt:
            params["prompt"] = prompt
        try:
            result = self._client.audio.transcriptions.create(**params)
        except Exception as error:
            raise HttpEngineError(self._endpoint, error) from error
        text = result if isinstance(result, str) else getattr(result, "text", "")
        return str(text).strip()


class HttpTextToSpeech:
    """Streams raw 24 kHz PCM16 speech from `/audio/speech`."""

    sample_rate: int = SPEECH_SAMPLE_RATE

    def __init__(
        self,
        model: str = "gpt-4o-mini-tts",
        endpoint: HttpEndpoint | None = None,
        *,
        voice: str = "alloy",
    ) -> None:
        """Use `model` at `endpoint` with a default `voice`."""
        self._endpoint = endpoint or HttpEndpoint()
        self._client = self._endpoint.client()
        self._model = model
        self._voice = voice
        self.name = f"http:{model}"

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: threading.Event
    ) -> Iterator[bytes]:
        """Yield whole PCM16 samples as the response body streams in."""
        if not text.strip() or cancel.is_set():
            return
        params: dict[str, Any] = {
            "model": self._model,
            "voice": voice or self._voice,
            "input": text,
            "response_format": "pcm",
        }
        if speed and speed != 1.0:
            params["speed"] = speed
        pending = b""
        try:
            with self._client.audio.speech.with_streaming_response.create(**params) as response:
                for data in response.iter_bytes(_SPEECH_CHUNK_BYTES):
                    if cancel.is_set():
                        return
                    data = pending + data
                    whole = len(data) - len(data) % 2
                    pending = data[whole:]
                    if whole:
                        yield data[:whole]
        except Exception as error:  # the server failed or went away: say which one
            raise HttpEngineError(self._endpoint, error) from error
