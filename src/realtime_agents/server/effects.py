"""What the sans-I/O core asks the I/O shell to do, and the core's per-session limits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ..audio import AudioFormatName
from .conversation import DEFAULT_MAX_CONVERSATION_BYTES, DEFAULT_MAX_RETAINED_AUDIO_BYTES
from .engines.base import LlmRequest

DEFAULT_MAX_OUT_OF_BAND_RESPONSES = 4
"""Out-of-band responses one session may have in progress at once."""


@dataclass(frozen=True, slots=True)
class ProtocolLimits:
    """Per-session limits enforced by the core."""

    max_audio_buffer_ms: int = 15 * 60 * 1000
    max_conversation_items: int = 2000
    max_session_seconds: float = 3600.0
    max_retained_audio_bytes: int = DEFAULT_MAX_RETAINED_AUDIO_BYTES
    """Audio kept for `conversation.item.retrieve` (user and assistant); oldest dropped first."""
    max_conversation_bytes: int = DEFAULT_MAX_CONVERSATION_BYTES
    """What the items may hold (`conversation.item_size`): `conversation_max_bytes_exceeded`."""
    max_out_of_band_responses: int = DEFAULT_MAX_OUT_OF_BAND_RESPONSES
    """Out-of-band responses (`conversation: "none"`) in progress at once:
    `out_of_band_response_limit_reached`."""


@dataclass(frozen=True, slots=True)
class StartResponse:
    """Run the engines for a response; report back with the `response_*` methods."""

    response_id: str
    request: LlmRequest
    output_modalities: tuple[str, ...]
    voice: str | None
    speed: float
    output_format: AudioFormatName
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True, slots=True)
class CancelResponse:
    """Stop the engines of a response (its `response.done` has been sent already)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Transcribe:
    """Transcribe a committed user audio item; report with `transcription_*`."""

    item_id: str
    audio: bytes
    audio_format: AudioFormatName
    language: str | None
    prompt: str | None


@dataclass(slots=True)  # not frozen: one per append, and a frozen __init__ costs 4x as much
class AnalyzeAudio:
    """Run VAD over appended audio that starts at `start_ms`; report with `vad_frames`."""

    audio: bytes
    audio_format: AudioFormatName
    start_ms: float


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with this WebSocket close code and reason."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Speculate:
    """Speech may have ended: transcribe `audio` and prepare the reply now, holding it back.

    `audio` is the speech item's audio so far; the item commits as `committed_bytes` bytes of
    which `audio` is the start (the rest is the silence that confirms the end of the turn).
    `start(transcript)` builds the `StartResponse` (without a response id) the core would
    send for that transcript if nothing else changes. The shell uses the results only for a
    `Transcribe` of exactly that audio and a `StartResponse` equal to the predicted one.
    """

    item_id: str
    audio: bytes
    committed_bytes: int
    audio_format: AudioFormatName
    language: str | None
    prompt: str | None
    start: Callable[[str], StartResponse] = field(compare=False)
    hypotheses: bool = False
    """Transcribe several readings (the `semantic_vad` turn decision looks at them)."""


@dataclass(frozen=True, slots=True)
class CancelSpeculation:
    """Speech resumed (or the turn was reset): drop the pending `Speculate` work."""


@dataclass(frozen=True, slots=True)
class TranscribeTurn:
    """Transcribe the speech so far (`audio`) to decide the turn (`turns` package); report it
    with `turn_transcript(request, text, readings)`. A speculative transcript of the same
    speech item may stand in for it, unless `fresh` (the speech went on since, or a `prompt`
    biases it)."""

    request: int
    purpose: Literal["end_of_turn", "interruption"]
    item_id: str
    audio: bytes
    audio_format: AudioFormatName
    language: str | None
    prompt: str | None = None
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class PrepareLlm:
    """The session's tools or instructions changed: the LLM may fill its prompt caches for
    them now, before the first turn needs them (nothing is reported back).

    `tools` is empty when only the instructions changed (the tool prompts stay as they are).
    """

    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    instructions: str | None


Effect: TypeAlias = (
    StartResponse
    | CancelResponse
    | Transcribe
    | AnalyzeAudio
    | Close
    | Speculate
    | CancelSpeculation
    | TranscribeTurn
    | PrepareLlm
)
Output: TypeAlias = dict[str, Any] | Effect
