"""The sans-I/O conversation core of the local realtime server.

`SessionProtocol` takes parsed client events and engine results and returns what to do:
server events (JSON-ready dicts, in order) and effects (`StartResponse`, `CancelResponse`,
`Transcribe`, `AnalyzeAudio`, `Close`) for the I/O shell. It owns no socket, no clock and no
thread: every method that depends on time takes `now` (seconds, any monotonic origin).

A transcription session (`intent="transcription"`, `?intent=transcription`) runs the same
input audio buffer, VAD and user items, transcribes every committed item, and never creates
a response: the events that would need one are refused (`TRANSCRIPTION_UNSUPPORTED`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from ..audio import AudioFormatName
from . import session_limits, user_turns
from .active_response import ActiveResponse, event
from .capacity import ResponseCapacity
from .conversation import Conversation, decode_base64
from .effects import (
    AnalyzeAudio,
    CancelResponse,
    Close,
    Effect,
    Output,
    ProtocolLimits,
    StartResponse,
    Transcribe,
)
from .engines.base import Hypothesis, LlmToolCall
from .errors import SERVER_ERROR, ProtocolError, error_event, invalid_value
from .handlers import HANDLERS, append_audio, json_copy
from .ids import new_id
from .input_audio import InputAudioBuffer, TurnDetector
from .json_validators import expect_str
from .response_params import ResponseParams
from .session_config import (
    default_session,
    default_transcription_session,
    format_name,
)
from .speculation_core import Speculator, start_effect
from .turns.semantic import SemanticTurnDetector
from .turns.session_turns import TurnTaking, detector_for

CLIENT_EVENT_TYPES = list(HANDLERS)
"""Every client event type the core handles (the keys of its handler table)."""
TRANSCRIPTION_UNSUPPORTED = {
    "conversation.item.create": "it holds only the user audio items it transcribes",
    "conversation.item.truncate": "it has no assistant audio to truncate",
    "response.create": "it never creates responses",
    "response.cancel": "it never creates responses",
}
"""Client events a transcription session refuses, and why (the `error` message says it)."""
Intent = Literal["realtime", "transcription"]
logger = logging.getLogger(__name__)


class SessionProtocol:
    """One realtime session's state machine."""

    def __init__(
        self,
        *,
        model: str,
        now: float,
        limits: ProtocolLimits | None = None,
        created_at: float | None = None,
        intent: Intent = "realtime",
        capacity: ResponseCapacity | None = None,
    ) -> None:
        """`now` is the shell's monotonic time; `created_at` the Unix time (default: `now`).

        `intent="transcription"` makes a transcription session (`model` is then unused).
        `capacity` counts responses in progress across the server's sessions (None: no limit).
        """
        self.capacity = capacity or ResponseCapacity(None)
        self.limits = limits or ProtocolLimits()
        created = now if created_at is None else created_at
        self.transcription_only = intent == "transcription"
        """A transcription session: input audio becomes transcribed user items, no responses."""
        if self.transcription_only:
            self.session = default_transcription_session(created, self.limits.max_session_seconds)
        else:
            self.session = default_session(model, created, self.limits.max_session_seconds)
        self.expires_at = now + self.limits.max_session_seconds
        self.conversation = Conversation(self.limits.max_retained_audio_bytes)
        self.buffer = InputAudioBuffer(self.input_format)
        detection = self.session["audio"]["input"]["turn_detection"]
        self.detector: TurnDetector | SemanticTurnDetector = (
            TurnDetector(0.5, 300, 200) if detection is None else detector_for(detection, None)
        )
        self.turns = TurnTaking()
        """Semantic turn ends, false interruptions and echo gating (`turns` package)."""
        self.turns.configure(detection)
        self.responses: dict[str, ActiveResponse] = {}
        self.default_response_id: str | None = None
        self.pending_transcriptions: dict[str, bool] = {}
        """Item ids awaiting a transcript -> whether transcription events are sent."""
        self.speech_item_id: str | None = None
        self.voice_locked = False
        self.idle_deadline: float | None = None
        self.closed = False
        self.speculator = Speculator()
        """Speculative turn ends (`Speculate` effects); the shell enables it if it can use it."""

    # ------------------------------------------------------------------ properties

    @property
    def input_format(self) -> AudioFormatName:
        """The canonical name of the input audio format."""
        return format_name(self.session["audio"]["input"]["format"])

    @property
    def session(self) -> dict[str, Any]:
        """The effective session config; replace it whole (parts read per append are cached)."""
        return self._session

    @session.setter
    def session(self, value: dict[str, Any]) -> None:
        self._session = value
        self._turn_detection: dict[str, Any] | None = value["audio"]["input"]["turn_detection"]

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """The effective turn detection config (None = manual commits)."""
        return self._turn_detection

    @property
    def vad_enabled(self) -> bool:
        """Whether appended audio goes through VAD."""
        return self._turn_detection is not None

    # ------------------------------------------------------------------ entry points

    def start(self) -> list[Output]:
        """The first frame: `session.created` with the full session."""
        return [event("session.created", session=json_copy(self.session))]

    def receive(self, message: object, now: float) -> list[Output]:
        """Handle one parsed client event (any JSON value)."""
        client_event_id: str | None = None
        try:
            if not isinstance(message, dict):
                raise ProtocolError(
                    "invalid_type", "Invalid event: expected a JSON object with a 'type'.", None
                )
            raw_id = message.get("event_id")
            if isinstance(raw_id, str):
                client_event_id = raw_id
            elif raw_id is not None:
                expect_str(raw_id, "event_id")
            if "type" not in message:
                raise ProtocolError(
                    "missing_required_parameter", "Missing required parameter: 'type'.", "type"
                )
            kind = message["type"]
            handler = HANDLERS.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise invalid_value("type", kind, CLIENT_EVENT_TYPES)
            if self.transcription_only and kind in TRANSCRIPTION_UNSUPPORTED:
                raise ProtocolError(
                    "invalid_value",
                    f"'{kind}' is not supported in a transcription session "
                    f"(?intent=transcription): {TRANSCRIPTION_UNSUPPORTED[kind]}. Connect with "
                    "?model=<model> for a realtime session.",
                    "type",
                )
            return handler(self, message, now, client_event_id)
        except ProtocolError as error:
            return [error.to_event(client_event_id)]
        except Exception:  # a bug: the client is told, the session goes on
            logger.exception("a client event handler failed")
            return [
                error_event(
                    None,
                    "The server had an error while processing this event; it may have been "
                    "applied in part. The session goes on.",
                    client_event_id=client_event_id,
                    error_type=SERVER_ERROR,
                )
            ]

    def append_audio(self, audio: str, client_event_id: str | None = None) -> list[Output]:
        """`input_audio_buffer.append` with its fields already read (the shell's fast path for
        the most frequent client event): the same outputs as `receive` of that event."""
        try:
            return append_audio(self, decode_base64(audio, "audio"))
        except ProtocolError as error:
            return [error.to_event(client_event_id)]

    def tick(self, now: float) -> list[Output]:
        """Time passes: session expiry and the idle timeout."""
        if self.closed:
            return []
        if now >= self.expires_at:
            self.closed = True
            minutes = round(self.limits.max_session_seconds / 60)
            return [
                error_event(
                    "session_expired",
                    f"Your session hit the maximum duration of {minutes} minutes.",
                ),
                Close(1001, "session_expired"),
            ]
        if self.idle_deadline is not None and now >= self.idle_deadline:
            self.idle_deadline = None
            if self.default_response_id is None and not self.detector.in_speech:
                return user_turns.idle_timeout(self)
        return []

    # ------------------------------------------------------------------ engine reports

    def vad_frames(self, frames: Sequence[tuple[float, float, float]], now: float) -> list[Output]:
        """Speech probabilities of consecutive frames: (start_ms, end_ms, probability)."""
        return user_turns.vad_frames(self, frames, now)

    def transcription_delta(self, item_id: str, delta: str) -> list[Output]:
        """Partial transcript of a user audio item."""
        return user_turns.transcription_delta(self, item_id, delta)

    def transcription_completed(self, item_id: str, transcript: str) -> list[Output]:
        """Final transcript of a user audio item; held responses may start now."""
        return user_turns.transcription_completed(self, item_id, transcript)

    def transcription_failed(
        self, item_id: str, message: str, code: str = "transcription_failed"
    ) -> list[Output]:
        """Transcription failed; the item keeps a null transcript."""
        return user_turns.transcription_failed(self, item_id, message, code)

    def response_text(self, response_id: str, delta: str) -> list[Output]:
        """Text (text mode) or the transcript of the audio about to follow (audio mode)."""
        if self.turns.holds(response_id):
            return self.turns.hold("text", delta)
        response = self._live(response_id)
        if response is None:
            return []
        self.turns.assistant_text(delta)
        try:
            return list(response.text(delta))
        except ProtocolError as full:
            return self._conversation_full(response, full)

    def response_audio(self, response_id: str, chunk: bytes) -> list[Output]:
        """An audio chunk already in the response's output format."""
        if self.turns.holds(response_id):
            return self.turns.hold("audio", chunk)
        response = self._live(response_id)
        if response is None:
            return []
        try:
            events: list[Output] = list(response.audio(chunk))
        except ProtocolError as full:
            return self._conversation_full(response, full)
        if chunk:
            self.voice_locked = True
            self.turns.sent_audio(
                chunk, format_name(response.params.output_format), self.buffer.end_ms
            )
        return events

    def response_tool_call(self, response_id: str, call: LlmToolCall) -> list[Output]:
        """A complete tool call decided by the LLM."""
        if self.turns.holds(response_id):
            return self.turns.hold("tool", call)
        response = self._live(response_id)
        if response is None:
            return []
        try:
            return list(response.tool_call(call))
        except ProtocolError as full:
            return self._conversation_full(response, full)

    def _conversation_full(self, response: ActiveResponse, full: ProtocolError) -> list[Output]:
        """A response that needs another item in a full conversation fails with the limit's
        error (its engines are stopped)."""
        details = {
            "type": "failed",
            "error": {"type": full.error_type, "code": full.code, "message": full.message},
        }
        out = self.end_response(response, "failed", details)
        if response.started:
            out.append(CancelResponse(response.id))
        return out

    def response_finished(
        self, response_id: str, now: float, error: str | None = None
    ) -> list[Output]:
        """The engines finished a response (or failed with `error`)."""
        if self.turns.holds(response_id):
            return self.turns.hold("finish", (now, error))
        response = self._live(response_id)
        if response is None:
            return []
        max_tokens = response.params.max_output_tokens
        if error is not None:
            details: dict[str, Any] | None = {
                "type": "failed",
                "error": {"type": "server_error", "code": "engine_error", "message": error},
            }
            status = "failed"
        elif isinstance(max_tokens, int) and response.text_tokens >= max_tokens:
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        else:
            status, details = "completed", None
        out = self.end_response(response, status, details)
        detection = self.turn_detection
        if (
            not response.params.out_of_band
            and detection is not None
            and detection.get("idle_timeout_ms") is not None
        ):
            self.idle_deadline = (
                now + response.audio_ms / 1000 + detection["idle_timeout_ms"] / 1000
            )
        return out

    # ------------------------------------------------------------------ turn taking

    def announce_speech(self, audio_start_ms: int, item_id: str) -> list[Output]:
        """`speech_started` for `item_id`, and the interruption of the response it causes."""
        return user_turns.announce_speech(self, audio_start_ms, item_id)

    def turn_transcript(
        self,
        request: int,
        text: str,
        now: float,
        readings: Sequence[Hypothesis] = (),
    ) -> list[Output]:
        """The transcript a `TranscribeTurn` asked for (the speech so far at a pause), and all
        the speech recogniser's readings of it, best first, if it gave them."""
        return user_turns.turn_transcript(self, request, text, now, readings)

    def end_turn(self, audio_end_ms: int, now: float) -> list[Output]:
        """`speech_stopped`, the commit and (if configured) the response of a user turn."""
        return user_turns.end_turn(self, audio_end_ms, now)

    def arm_idle_timeout(self, now: float) -> None:
        """Start a transcription session's idle timeout at the end of a user turn."""
        user_turns.arm_idle_timeout(self, now)

    def commit_audio(self, audio: bytes, item_id: str, *, refused: bool = False) -> list[Output]:
        """Turn committed audio into a user item (transcribed unless `refused` at capacity)."""
        return user_turns.commit_audio(self, audio, item_id, refused=refused)

    def transcribe(self, item_id: str, audio: bytes) -> list[Output]:
        """Ask for the item's transcript (`user_turns.transcribe`)."""
        return user_turns.transcribe(self, item_id, audio)

    def conversation_full(self, adding_bytes: int = 0) -> ProtocolError | None:
        """Why the conversation cannot take another item (of `adding_bytes`), or None."""
        return session_limits.conversation_full(self.limits, self.conversation, adding_bytes)

    def out_of_band_full(self) -> ProtocolError | None:
        """Why another out-of-band response cannot start now, or None."""
        return session_limits.out_of_band_full(self.limits, self.responses)

    # ------------------------------------------------------------------ responses

    def create_response(
        self, params: ResponseParams, input_items: list[dict[str, Any]] | None
    ) -> list[Output]:
        response_id = new_id("resp")
        if not self.capacity.take():
            refusal = self.capacity.refusal()
            return session_limits.refused_response(
                response_id, params, self.conversation.id, refusal
            )
        conversation = None if params.out_of_band else self.conversation
        response = ActiveResponse(
            response_id,
            params,
            conversation,
            None if params.out_of_band else self.conversation.id,
            self.conversation_full,
        )
        self.responses[response_id] = response
        if not params.out_of_band:
            self.default_response_id = response_id
        if input_items is None:
            response.input_item_ids = self.conversation.ids()
            response.waiting_for = {
                item_id
                for item_id in response.input_item_ids
                if item_id in self.pending_transcriptions
            }
        else:
            response.input_items = input_items
        out: list[Output] = [response.created_event()]
        if not response.waiting_for:
            out.append(self._start(response))
        return out

    def release_responses(self) -> None:
        """The session is over: give back the capacity its unfinished responses held."""
        for _ in self.responses:
            self.capacity.give_back()
        self.responses.clear()
        self.default_response_id = None

    def _start(self, response: ActiveResponse) -> StartResponse:
        if response.input_items is not None:
            items = response.input_items
        else:
            ids = response.input_item_ids or []
            items = [item for i in ids if (item := self.conversation.get(i)) is not None]
        speed = float(self.session["audio"]["output"]["speed"])
        effect, response.input_tokens = start_effect(response.id, response.params, items, speed)
        response.started = True
        return effect

    def release_waiting(self, item_id: str) -> list[Output]:
        out: list[Output] = []
        for response in list(self.responses.values()):
            if item_id in response.waiting_for:
                response.waiting_for.discard(item_id)
                if not response.waiting_for and not response.started:
                    out.append(self._start(response))
        return out

    def _live(self, response_id: str) -> ActiveResponse | None:
        response = self.responses.get(response_id)
        return response if response is not None and not response.finished else None

    def end_response(
        self, response: ActiveResponse, status: str, details: dict[str, Any] | None
    ) -> list[Output]:
        out: list[Output] = list(response.finish(status, details))
        del self.responses[response.id]
        self.turns.response_ended(response.id)
        self.capacity.give_back()
        if self.default_response_id == response.id:
            self.default_response_id = None
        if status == "cancelled" and response.started:
            out.append(CancelResponse(response.id))
        return out


__all__ = [
    "CLIENT_EVENT_TYPES",
    "TRANSCRIPTION_UNSUPPORTED",
    "AnalyzeAudio",
    "CancelResponse",
    "Close",
    "Effect",
    "Intent",
    "Output",
    "ProtocolLimits",
    "SessionProtocol",
    "StartResponse",
    "Transcribe",
]
