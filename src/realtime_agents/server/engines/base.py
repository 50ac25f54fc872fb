"""The four engine interfaces behind the local server: VAD, speech-to-text, LLM, text-to-speech.

Engines are loaded once per process and shared by sessions. Their methods are synchronous and
may be slow: the server calls them from worker threads, never on the event loop. Long-running
calls take a `threading.Event` and stop soon after it is set (barge-in, cancel).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, TypedDict, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Float32Array: TypeAlias = NDArray[np.float32]


@runtime_checkable
class VoiceActivityDetector(Protocol):
    """Per-session speech detector over fixed-size frames of float32 mono audio in [-1, 1)."""

    sample_rate: int
    frame_samples: int

    def speech_probability(self, frame: Float32Array) -> float:
        """Probability 0..1 that this frame (exactly `frame_samples` long) holds speech."""
        ...

    def reset(self) -> None:
        """Forget the detector's state (between turns)."""
        ...


@runtime_checkable
class Pcm16RateDetector(Protocol):
    """Optional fast path of a detector that can work on the input audio as it arrives.

    `at_rate(rate)` returns an equivalent detector for PCM16 at `rate` Hz (same frame
    duration), or None when it cannot; `pcm16_probability` takes one frame of int16 samples.
    The server then skips resampling and float conversion of every appended chunk.
    """

    def at_rate(self, rate: int) -> Pcm16RateDetector | None:
        """A detector with the same frame duration working at `rate` Hz, or None."""
        ...

    def pcm16_probability(self, frame: NDArray[np.int16]) -> float:
        """`speech_probability` of one frame given as int16 samples."""
        ...


class VadEngine(Protocol):
    """Shared VAD model; each session gets its own detector state."""

    name: str

    def create_detector(self) -> VoiceActivityDetector:
        """A new detector with fresh state."""
        ...


class SpeechToTextEngine(Protocol):
    """Transcribes a whole utterance of float32 mono audio at `sample_rate`."""

    name: str
    sample_rate: int

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        """The transcript of the utterance ("" for silence)."""
        ...


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One reading of an utterance and its score (mean log-probability per token)."""

    text: str
    score: float


class ChatMessage(TypedDict, total=False):
    """An OpenAI-style chat message for the LLM engine."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class LlmToolCall:
    """A tool call decided by the LLM; `arguments` is a JSON object as a string."""

    name: str
    arguments: str
    call_id: str


@dataclass(frozen=True, slots=True)
class LlmChunk:
    """One streamed piece of LLM output: text, or a complete tool call."""

    text: str = ""
    tool_call: LlmToolCall | None = None


@dataclass(frozen=True, slots=True)
class LlmRequest:
    """What the server asks the LLM for one response."""

    messages: Sequence[ChatMessage]
    tools: Sequence[Mapping[str, Any]] = ()
    """Function tools in the Realtime shape: {type, name, description, parameters}."""
    tool_choice: str | Mapping[str, Any] = "auto"
    max_output_tokens: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class LanguageModelEngine(Protocol):
    """Streams a reply for a chat, with optional tool calls."""

    name: str

    def generate(self, request: LlmRequest, cancel: threading.Event) -> Iterator[LlmChunk]:
        """Yield text pieces as they are decoded, or tool calls; stop soon after `cancel` is set."""
        ...


class TextToSpeechEngine(Protocol):
    """Speaks text as PCM16 mono at `sample_rate`."""

    name: str
    sample_rate: int

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: threading.Event
    ) -> Iterator[bytes]:
        """Yield PCM16 little-endian chunks at `sample_rate`; stop soon after `cancel` is set."""
        ...


# ---------------------------------------------------------------------- optional abilities
# An engine may have any of these besides its role's interface; the server checks with
# `isinstance` (the protocols are runtime-checkable) and uses the ability where it has it.


@runtime_checkable
class InlineEngine(Protocol):
    """An engine that may declare it never blocks: the server then calls it on the event loop
    (no worker thread). `runs_inline` may change with the engine's settings."""

    @property
    def runs_inline(self) -> bool:
        """Whether every call returns without blocking (no model, no delay)."""
        ...


@runtime_checkable
class PrefillingLanguageModel(Protocol):
    """An LLM that can evaluate a prompt ahead, while the user is still speaking."""

    def prefill(self, request: LlmRequest, cancel: threading.Event) -> None:
        """Put the prompt a later request continuing `request`'s user text will share into
        the model's cache (blocking; stops soon after `cancel` is set). Changes no answer."""
        ...


@runtime_checkable
class PreparingLanguageModel(Protocol):
    """An LLM that keeps prompt caches and can fill them for a session's tools and
    instructions before its first turn."""

    def prepare(
        self,
        tools: Sequence[Mapping[str, Any]] = (),
        tool_choice: str | Mapping[str, Any] = "auto",
        instructions: str | None = None,
    ) -> None:
        """Prefill the prompt prefixes for `tools` (none: keep the current ones), `tool_choice`
        and `instructions` (blocking)."""
        ...


@runtime_checkable
class HypothesesSpeechToText(Protocol):
    """A speech-to-text engine that can give several readings of one utterance: the turn
    detector treats a pause as unsure when a likely reading of it is unfinished."""

    def transcribe_hypotheses(
        self,
        samples: Float32Array,
        *,
        language: str | None = None,
        prompt: str | None = None,
        count: int = 4,
    ) -> list[Hypothesis]:
        """Up to `count` readings, best first (at least one; `Hypothesis("", ...)` for silence)."""
        ...


@runtime_checkable
class WarmableEngine(Protocol):
    """An engine whose first call is slow: `warm_up` makes that call once at load time."""

    def warm_up(self) -> None:
        """Run a throwaway call so the first real one is fast (blocking)."""
        ...


def runs_inline(engine: object) -> bool:
    """Whether `engine` declares it never blocks (see `InlineEngine`)."""
    return isinstance(engine, InlineEngine) and bool(engine.runs_inline)


@dataclass(frozen=True, slots=True)
class EngineSet:
    """The engines one server process uses, shared by all sessions."""

    vad: VadEngine
    stt: SpeechToTextEngine
    llm: LanguageModelEngine
    tts: TextToSpeechEngine

    def describe(self) -> str:
        """One line naming the engines, for the start-up log."""
        return f"vad={self.vad.name} stt={self.stt.name} llm={self.llm.name} tts={self.tts.name}"
