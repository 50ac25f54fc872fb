"""Deterministic engines for tests and load benchmarks: energy VAD, canned STT, rule LLM, tone."""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ..ids import new_call_id
from .base import (
    ChatMessage,
    EngineSet,
    Float32Array,
    Hypothesis,
    LlmChunk,
    LlmRequest,
    LlmToolCall,
    VoiceActivityDetector,
)

DEFAULT_REPLY = "Sure. This is the local scripted assistant, answering in a few short clauses."


class EnergyDetector:
    """Speech probability from frame RMS: 0.5 exactly at `rms_threshold`, 1.0 at twice it."""

    def __init__(self, sample_rate: int, frame_samples: int, rms_threshold: float) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples
        self.rms_threshold = rms_threshold

    def speech_probability(self, frame: Float32Array) -> float:
        """RMS over the frame, scaled so the threshold maps to 0.5."""
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if frame.size else 0.0
        return min(1.0, rms / (2 * self.rms_threshold))

    def at_rate(self, rate: int) -> EnergyDetector | None:
        """The same detector on frames of the same duration at `rate` Hz (None if fractional)."""
        samples, remainder = divmod(self.frame_samples * rate, self.sample_rate)
        if remainder or not samples:
            return None
        return EnergyDetector(rate, samples, self.rms_threshold)

    def pcm16_probability(self, frame: NDArray[np.int16]) -> float:
        """`speech_probability` of int16 samples (read as sample / 32768)."""
        if not frame.size:
            return 0.0
        wide = frame.astype(np.float64)
        rms = math.sqrt(float(np.dot(wide, wide)) / frame.size) / 32768.0
        return min(1.0, rms / (2 * self.rms_threshold))

    def reset(self) -> None:
        """Stateless: nothing to forget."""


@dataclass
class EnergyVad:
    """Energy-threshold VAD on 16 kHz frames of 512 samples (32 ms)."""

    rms_threshold: float = 0.02
    sample_rate: int = 16000
    frame_samples: int = 512
    name: str = "scripted-energy"
    runs_inline: bool = True
    """Cheap enough to run on the event loop (the pipeline skips the worker thread)."""

    def create_detector(self) -> VoiceActivityDetector:
        """A fresh detector."""
        return EnergyDetector(self.sample_rate, self.frame_samples, self.rms_threshold)


@dataclass
class ScriptedStt:
    """Configured transcripts: a sequence in turn, else by utterance length, else a default."""

    default: str = "Hello there."
    by_duration: Sequence[tuple[float, str]] = ()
    """(max_seconds, transcript) pairs; the first whose bound covers the utterance wins."""
    sequence: Sequence[str] = ()
    """Transcripts returned in order for the first utterances."""
    readings: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Other readings of a transcript, given after it by `transcribe_hypotheses` (each scored
    0.1 below the one before)."""
    sample_rate: int = 24000
    """The PCM16 input rate, so the server need not resample utterances (only length counts)."""
    name: str = "scripted-stt"
    _calls: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        """The scripted transcript for this utterance."""
        with self._lock:
            index = self._calls
            self._calls += 1
        if index < len(self.sequence):
            return self.sequence[index]
        seconds = len(samples) / self.sample_rate
        for max_seconds, text in self.by_duration:
            if seconds <= max_seconds:
                return text
        return self.default

    def transcribe_hypotheses(
        self,
        samples: Float32Array,
        *,
        language: str | None = None,
        prompt: str | None = None,
        count: int = 4,
    ) -> list[Hypothesis]:
        """The scripted transcript, then its configured `readings`."""
        text = self.transcribe(samples, language=language, prompt=prompt)
        others = self.readings.get(text, ())
        found = [Hypothesis(text, 0.0)]
        found += [Hypothesis(other, -0.1 * (index + 1)) for index, other in enumerate(others)]
        return found[: max(1, count)]


@dataclass(frozen=True)
class ToolRule:
    """Call `tool` with `arguments` when the user's text contains `trigger` (case-insensitive)."""

    trigger: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ScriptedLlm:
    """Replies from rules: tool calls on trigger words, a summary of tool output, else a reply."""

    reply: str | Callable[[str], str] = DEFAULT_REPLY
    tool_rules: Sequence[ToolRule] = ()
    tool_result_reply: str = "The tool says: {output}"
    token_delay_s: float = 0.0
    name: str = "scripted-llm"

    @property
    def runs_inline(self) -> bool:
        """A text reply without a token delay never blocks: the pipeline calls it on the loop."""
        return not self.token_delay_s and not callable(self.reply)

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        """Stream the reply word by word, or yield one tool call."""
        last = _last_non_system(request.messages)
        if last is not None and last.get("role") == "tool":
            text = self.tool_result_reply.format(output=last.get("content", ""))
        else:
            user_text = str(last.get("content", "")) if last is not None else ""
            call = self._tool_call(request, user_text)
            if call is not None:
                yield LlmChunk(tool_call=call)
                return
            text = self.reply(user_text) if callable(self.reply) else self.reply
        for piece in re.findall(r"\S+\s*", text):
            if cancel.wait(self.token_delay_s) if self.token_delay_s else cancel.is_set():
                return
            yield LlmChunk(text=piece)

    def _tool_call(self, request: LlmRequest, user_text: str) -> LlmToolCall | None:
        if request.tool_choice == "none" or not request.tools:
            return None
        names = {str(tool.get("name")) for tool in request.tools}
        for rule in self.tool_rules:
            if rule.tool in names and rule.trigger.lower() in user_text.lower():
                return LlmToolCall(rule.tool, json.dumps(dict(rule.arguments)), new_call_id())
        return None


def _last_non_system(messages: Sequence[ChatMessage]) -> ChatMessage | None:
    found: ChatMessage | None = None
    for message in messages:
        if message.get("role") != "system":
            found = message
    return found


@dataclass
class ToneTts:
    """A tone whose duration is proportional to the text (`ms_per_character`), in 100 ms chunks."""

    ms_per_character: float = 40.0
    sample_rate: int = 24000
    frequency_hz: float = 220.0
    amplitude: float = 0.3
    chunk_ms: int = 100
    chunk_delay_s: float = 0.0
    """Synthesis time per chunk, to simulate a slower-than-instant engine (cancel-aware)."""
    name: str = "scripted-tone"

    @property
    def runs_inline(self) -> bool:
        """Without a chunk delay nothing blocks: the pipeline calls it on the event loop."""
        return not self.chunk_delay_s

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: threading.Event
    ) -> Iterator[bytes]:
        """PCM16 chunks of a tone with a short fade in and out."""
        total = int(len(text.strip()) * self.ms_per_character / max(speed, 0.01))
        samples_total = total * self.sample_rate // 1000
        chunk_samples = self.chunk_ms * self.sample_rate // 1000
        chunks = _tone_chunks(
            samples_total, chunk_samples, self.sample_rate, self.frequency_hz, self.amplitude
        )
        for chunk in chunks:
            if cancel.wait(self.chunk_delay_s) if self.chunk_delay_s else cancel.is_set():
                return
            yield chunk


@functools.lru_cache(maxsize=64)
def _tone_chunks(
    samples_total: int, chunk_samples: int, rate: int, frequency_hz: float, amplitude: float
) -> tuple[bytes, ...]:
    """The tone's chunks (cached: scripted replies repeat, and load tests measure the server)."""
    chunks = []
    for start in range(0, samples_total, chunk_samples):
        index = np.arange(start, min(start + chunk_samples, samples_total))
        wave = amplitude * np.sin(2 * math.pi * frequency_hz * index / rate)
        fade = np.minimum(1.0, np.minimum(index, samples_total - index) / (rate / 100))
        chunks.append((wave * fade * 32767).astype("<i2").tobytes())
    return tuple(chunks)


SCRIPTED_OPTIONS: Final = (
    "transcript",
    "reply",
    "tool_rules",
    "token_delay_s",
    "tts_chunk_delay_s",
    "rms_threshold",
)
"""The plain options `scripted_engine_set` (and a scripted `--config` file) accepts."""


def scripted_engine_set(
    *,
    vad: EnergyVad | None = None,
    stt: ScriptedStt | None = None,
    llm: ScriptedLlm | None = None,
    tts: ToneTts | None = None,
    **options: Any,
) -> EngineSet:
    """The deterministic engine set; pass engine objects, or plain options for the missing ones.

    Options (all optional, e.g. from a config file): `transcript`, `reply`, `tool_rules`
    (a list of `{trigger, tool, arguments}`), `token_delay_s`, `tts_chunk_delay_s`,
    `rms_threshold`.
    """
    unknown = set(options) - set(SCRIPTED_OPTIONS)
    if unknown:
        raise TypeError(
            f"unknown scripted engine options: {sorted(unknown)}; use {list(SCRIPTED_OPTIONS)}"
        )
    rules = [
        rule if isinstance(rule, ToolRule)
        else ToolRule(str(rule["trigger"]), str(rule["tool"]), dict(rule.get("arguments", {})))
        for rule in options.get("tool_rules", [])
    ]  # fmt: skip
    return EngineSet(
        vad=vad or EnergyVad(rms_threshold=float(options.get("rms_threshold", 0.02))),
        stt=stt or ScriptedStt(default=str(options.get("transcript", "Hello there."))),
        llm=llm
        or ScriptedLlm(
            reply=str(options.get("reply", DEFAULT_REPLY)),
            tool_rules=rules,
            token_delay_s=float(options.get("token_delay_s", 0.0)),
        ),
        tts=tts or ToneTts(chunk_delay_s=float(options.get("tts_chunk_delay_s", 0.0))),
    )
