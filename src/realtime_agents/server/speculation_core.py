"""Speculative turn ends in the sans-I/O core: what the shell may compute before silence is sure.

At the first silent frame after speech, the end of the turn is only a candidate: the turn
ends when `silence_duration_ms` of silence has passed. `Speculator` emits a `Speculate`
effect at that first silent frame (only when the turn's end would create a response by itself,
and the server has room for one: `capacity.py`) and `CancelSpeculation` when speech resumes
first. The events the core sends never depend on
it: the shell uses a speculative result only where the core later asks for exactly the same
work (the same audio to transcribe, an equal `StartResponse`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .conversation import chat_messages, messages_tokens, user_audio_item
from .effects import CancelSpeculation, Output, Speculate, StartResponse
from .engines.base import LlmRequest
from .response_params import ResponseParams, parse_response_params
from .session_config import format_name

if TYPE_CHECKING:
    from .protocol import SessionProtocol


def start_effect(
    response_id: str, params: ResponseParams, items: list[dict[str, Any]], speed: float
) -> tuple[StartResponse, int]:
    """The `StartResponse` for `params` over `items`, and the request's input token estimate."""
    messages = chat_messages(params.instructions, items)
    voice = params.voice if isinstance(params.voice, str) else params.voice.get("id")
    max_tokens = params.max_output_tokens
    request = LlmRequest(
        messages=messages,
        tools=[] if params.tool_choice == "none" else list(params.tools),
        tool_choice=params.tool_choice,
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
        metadata=dict(params.metadata or {}),
    )
    effect = StartResponse(
        response_id,
        request,
        tuple(params.output_modalities),
        voice,
        speed,
        format_name(params.output_format),
    )
    return effect, messages_tokens(messages)


class Speculator:
    """Per-session speculation state (disabled unless the shell can use it)."""

    def __init__(self) -> None:
        self.enabled = False
        self.active = False
        self._last_speech_end_ms = 0.0

    def frame(
        self, core: SessionProtocol, end_ms: float, probability: float, stopped: bool
    ) -> list[Output]:
        """After the detector saw a frame: start or cancel speculative work."""
        if not self.enabled:
            return []
        if probability >= core.detector.threshold:
            if self.active:
                self.active = False
                return [CancelSpeculation()]
            return []
        if not core.detector.in_speech:
            was_active, self.active = self.active, False
            return [CancelSpeculation()] if was_active and not stopped else []
        if self.active:
            return []
        effect = speculate(core)
        if effect is None:
            return []
        self.active = True
        return [effect]


def speculate(core: SessionProtocol) -> Speculate | None:
    """The `Speculate` for the current speech item, if its end would start a response as is."""
    detection = core.turn_detection
    item_id = core.speech_item_id
    if (
        detection is None
        or not detection.get("create_response")
        or core.default_response_id is not None
        or core.pending_transcriptions
        or item_id is None
        or core.conversation_full() is not None
        or core.capacity.full  # the turn would be refused: no work for it (issue 14 item 10)
    ):
        return None
    buffer = core.buffer
    end_ms = int(core.detector.last_speech_end_ms + core.detector.silence_duration_ms)
    committed = int((end_ms - buffer.start_ms) * buffer.bytes_per_ms)
    committed -= committed % buffer.sample_bytes
    audio = buffer.peek_until(end_ms)
    if committed <= 0 or not audio:
        return None
    params = parse_response_params(None, core.session)
    conversation = core.conversation
    items = [item for i in conversation.ids() if (item := conversation.get(i)) is not None]
    speed = float(core.session["audio"]["output"]["speed"])

    def start(transcript: str) -> StartResponse:
        user = user_audio_item(item_id, transcript)
        return start_effect("", params, [*items, user], speed)[0]

    transcription = core.session["audio"]["input"]["transcription"] or {}
    return Speculate(
        item_id,
        audio,
        committed,
        buffer.format,
        transcription.get("language"),
        transcription.get("prompt"),
        start,
        hypotheses=detection["type"] == "semantic_vad",
    )
