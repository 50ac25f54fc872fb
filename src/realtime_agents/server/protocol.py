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
from .active_response import ActiveResponse, event
from .capacity import ResponseCapacity
from .conversation import Conversation, ItemAudio, decode_base64, user_audio_item
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
from .engines.base import LlmToolCall
from .errors import SERVER_ERROR, ProtocolError, error_event, invalid_value
from .handlers import HANDLERS, append_audio, json_copy
from .ids import new_id
from .input_audio import InputAudioBuffer, SpeechStarted, SpeechStopped, TurnDetector
from .json_validators import expect_str
from .response_params import ResponseParams, parse_response_params
from .session_config import (
    default_session,
    default_transcription_session,
    format_name,
)
from .speculation_core import Speculator, start_effect
from .turns.semantic import SemanticTurnDetector, TranscriptWanted
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
                return self._idle_timeout(now)
        return []

    # ------------------------------------------------------------------ engine reports

    def vad_frames(self, frames: Sequence[tuple[float, float, float]], now: float) -> list[Output]:
        """Speech probabilities of consecutive frames: (start_ms, end_ms, probability)."""
        out: list[Output] = []
        if self._turn_detection is None or not frames:
            return out
        detector = self.detector
        speculator = self.speculator if self.speculator.enabled else None
        turns = self.turns
        for start_ms, end_ms, probability in frames:
            change = detector.frame(start_ms, end_ms, probability)
            if isinstance(change, SpeechStarted):
                out += self._speech_started(change, start_ms)
            elif isinstance(change, SpeechStopped):
                out += self._speech_stopped(change, now)
            elif turns.arbiter.holding and probability >= detector.threshold:
                turns.speech_resumed()
                out += turns.held_frame(self, end_ms, now)
            if speculator is not None:
                stopped = isinstance(change, SpeechStopped)
                out += speculator.frame(self, end_ms, probability, stopped)
            if isinstance(change, TranscriptWanted):  # after `Speculate`, whose transcript it uses
                out += turns.transcript_wanted(self, change)
        if not detector.in_speech:
            self.buffer.trim_before(frames[-1][1] - detector.prefix_padding_ms)
        return out

    def transcription_delta(self, item_id: str, delta: str) -> list[Output]:
        """Partial transcript of a user audio item."""
        if not delta or not self.pending_transcriptions.get(item_id):
            return []
        return [
            event(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=delta,
                logprobs=None,
            )
        ]

    def transcription_completed(self, item_id: str, transcript: str) -> list[Output]:
        """Final transcript of a user audio item; held responses may start now."""
        if item_id not in self.pending_transcriptions:
            return []
        send_events = self.pending_transcriptions.pop(item_id)
        out: list[Output] = []
        item = self.conversation.get(item_id)
        seconds = 0.0
        if item is not None:
            for part in item["content"]:
                if part["type"] == "input_audio":
                    part["transcript"] = transcript
            self.conversation.resize(item_id)
            audio = self.conversation.audio.get(item_id)
            if audio is not None:
                seconds = audio.input_bytes / (48000 if audio.input_format == "pcm16" else 8000)
        if send_events:
            out.append(
                event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                    logprobs=None,
                )
            )
        return out + self.release_waiting(item_id)

    def transcription_failed(
        self, item_id: str, message: str, code: str = "transcription_failed"
    ) -> list[Output]:
        """Transcription failed; the item keeps a null transcript."""
        if item_id not in self.pending_transcriptions:
            return []
        out: list[Output] = []
        if self.pending_transcriptions.pop(item_id):
            out.append(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=0,
                    error={
                        "type": "server_error",
                        "code": code,
                        "message": message,
                        "param": None,
                    },
                )
            )
        return out + self.release_waiting(item_id)

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

    def _speech_started(self, change: SpeechStarted, onset_ms: float) -> list[Output]:
        self.idle_deadline = None
        self.buffer.trim_before(change.audio_start_ms)
        self.speech_item_id = new_id("item")
        if self.turns.speech_started(self, change, onset_ms, self.speech_item_id):
            return []  # held while the assistant speaks: a backchannel or a noise resumes it
        self.turns.playback_cut(onset_ms)  # clients stop playing on `speech_started`
        return self.announce_speech(change.audio_start_ms, self.speech_item_id)

    def announce_speech(self, audio_start_ms: int, item_id: str) -> list[Output]:
        """`speech_started` for `item_id`, and the interruption of the response it causes."""
        out: list[Output] = [
            event(
                "input_audio_buffer.speech_started",
                audio_start_ms=audio_start_ms,
                item_id=item_id,
            )
        ]
        detection = self.turn_detection
        if detection and detection.get("interrupt_response") and self.default_response_id:
            response = self.responses[self.default_response_id]
            out += self.end_response(
                response, "cancelled", {"type": "cancelled", "reason": "turn_detected"}
            )
        return out

    def _speech_stopped(self, change: SpeechStopped, now: float) -> list[Output]:
        held = self.turns.speech_stopped(self, change)
        if held is not None:
            return held
        return self.end_turn(change.audio_end_ms, now)

    def turn_transcript(self, request: int, text: str, now: float) -> list[Output]:
        """The transcript a `TranscribeTurn` asked for (the speech so far at a pause)."""
        in_speech = self.detector.in_speech
        out = self.turns.transcript(self, request, text, now)
        if in_speech and not self.detector.in_speech:
            self.speculator.active = False  # the turn ended here, as a silent frame would end it
        return out

    def end_turn(self, audio_end_ms: int, now: float) -> list[Output]:
        """`speech_stopped`, the commit and (if configured) the response of a user turn."""
        item_id = self.speech_item_id or new_id("item")
        self.speech_item_id = None
        out: list[Output] = [
            event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)
        ]
        audio = self.buffer.take_until(self.buffer.start_ms, audio_end_ms)
        detection = self.turn_detection
        responds = bool(
            detection and detection.get("create_response") and self.default_response_id is None
        )
        # At capacity this turn's response is refused: its speech-to-text would only slow the
        # turns in progress, so it is refused too (issue 14 item 10).
        refused = self.capacity.full and responds and not self.transcription_only
        out += self.commit_audio(audio, item_id, refused=refused)
        if self.transcription_only:
            self.arm_idle_timeout(now)
            return out
        if responds:
            out += self.create_response(parse_response_params(None, self.session), None)
        return out

    def arm_idle_timeout(self, now: float) -> None:
        """Start a transcription session's idle timeout at the end of a user turn (a realtime
        session's starts when the last response's audio ends: see `response_finished`)."""
        detection = self.turn_detection
        if detection is not None and detection.get("idle_timeout_ms") is not None:
            self.idle_deadline = now + detection["idle_timeout_ms"] / 1000

    def _idle_timeout(self, now: float) -> list[Output]:
        item_id = new_id("item")
        position = int(self.buffer.end_ms)
        out: list[Output] = [
            event(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=position,
                audio_end_ms=position,
                item_id=item_id,
            )
        ]
        out += self.commit_audio(self.buffer.take_all(), item_id)
        if not self.transcription_only:
            out += self.create_response(parse_response_params(None, self.session), None)
        return out

    def commit_audio(self, audio: bytes, item_id: str, *, refused: bool = False) -> list[Output]:
        """Turn committed audio into a user item (and transcribe it, unless `refused`: the
        server is at capacity, and a configured transcription fails saying so)."""
        full = self.conversation_full()
        if full is not None:
            return [full.to_event(None)]
        item = user_audio_item(item_id)
        previous = self.conversation.insert(item)
        self.conversation.add_audio(
            item_id, ItemAudio(input_audio=audio, input_format=self.input_format)
        )
        out: list[Output] = [
            event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            event("conversation.item.added", previous_item_id=previous, item=json_copy(item)),
            event("conversation.item.done", previous_item_id=previous, item=json_copy(item)),
        ]
        if refused:
            self.pending_transcriptions[item_id] = (
                self.session["audio"]["input"]["transcription"] is not None
            )
            return out + self.transcription_failed(
                item_id, self.capacity.refusal().message, code="server_at_capacity"
            )
        out += self.transcribe(item_id, audio)
        return out

    def transcribe(self, item_id: str, audio: bytes) -> list[Output]:
        """Ask for the item's transcript; its events are sent if transcription is configured,
        and always in a transcription session (null `transcription` there means the server's
        own speech-to-text engine, which the shell uses whatever `model` names)."""
        transcription = self.session["audio"]["input"]["transcription"]
        self.pending_transcriptions[item_id] = transcription is not None or self.transcription_only
        return [
            Transcribe(
                item_id,
                audio,
                self.input_format,
                (transcription or {}).get("language"),
                (transcription or {}).get("prompt"),
            )
        ]

    def conversation_full(self, adding_bytes: int = 0) -> ProtocolError | None:
        """Why the conversation cannot take another item (of `adding_bytes`), or None."""
        limits = self.limits
        if len(self.conversation) >= limits.max_conversation_items:
            return ProtocolError(
                "conversation_max_items_exceeded",
                f"The conversation already holds the maximum of {limits.max_conversation_items}"
                " items; delete items with conversation.item.delete before adding more.",
            )
        held = self.conversation.item_bytes
        if held + adding_bytes > limits.max_conversation_bytes or (
            not adding_bytes and held >= limits.max_conversation_bytes
        ):
            return ProtocolError(
                "conversation_max_bytes_exceeded",
                f"The conversation's items would hold more than the maximum of "
                f"{limits.max_conversation_bytes} bytes (they hold {held}; the item adds "
                f"{adding_bytes}); delete items with conversation.item.delete before adding "
                "more.",
            )
        return None

    def out_of_band_full(self) -> ProtocolError | None:
        """Why another out-of-band response cannot start now, or None."""
        limit = self.limits.max_out_of_band_responses
        running = sum(1 for response in self.responses.values() if response.params.out_of_band)
        if running < limit:
            return None
        return ProtocolError(
            "out_of_band_response_limit_reached",
            f"This session already has {running} out-of-band responses (conversation: "
            f'"none") in progress, the server\'s limit of {limit} per session; wait for a '
            "response.done before creating another.",
            "response.conversation",
        )

    # ------------------------------------------------------------------ responses

    def create_response(
        self, params: ResponseParams, input_items: list[dict[str, Any]] | None
    ) -> list[Output]:
        response_id = new_id("resp")
        if not self.capacity.take():
            return self._refused(response_id, params, self.capacity.refusal())
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

    def _refused(
        self, response_id: str, params: ResponseParams, error: ProtocolError
    ) -> list[Output]:
        """A response the server started itself, ended at once: `failed` with `error`."""
        conversation_id = None if params.out_of_band else self.conversation.id
        response = ActiveResponse(response_id, params, None, conversation_id)
        details = {
            "type": "failed",
            "error": {"type": error.error_type, "code": error.code, "message": error.message},
        }
        return [response.created_event(), *response.finish("failed", details)]

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
