"""Sans-I/O wire codec for the OpenAI Realtime API: decoded frames to the model's typed events.

Decoding lives in `frames` (one msgspec pass per frame), conversation items both ways in
`item_codec`, and the client events' encoders in `client_events`; their names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import pybase64

from ...events import (
    RealtimeModelAudioDoneEvent,
    RealtimeModelAudioEvent,
    RealtimeModelErrorEvent,
    RealtimeModelEvent,
    RealtimeModelInputAudioClearedEvent,
    RealtimeModelInputAudioCommittedEvent,
    RealtimeModelInputAudioTimeoutTriggeredEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelInputAudioTranscriptionFailedEvent,
    RealtimeModelInputSpeechStartedEvent,
    RealtimeModelInputSpeechStoppedEvent,
    RealtimeModelItemDeletedEvent,
    RealtimeModelItemTruncatedEvent,
    RealtimeModelItemUpdatedEvent,
    RealtimeModelOtherEvent,
    RealtimeModelOutputTextDeltaEvent,
    RealtimeModelOutputTextDoneEvent,
    RealtimeModelSessionUpdatedEvent,
    RealtimeModelToolCallArgumentsDeltaEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
    RealtimeModelUsageEvent,
)
from .client_events import (
    INPUT_AUDIO_CLEAR,
    INPUT_AUDIO_COMMIT,
    encode,
    encode_append_audio,
    encode_item_create,
    encode_response_cancel,
    encode_response_create,
    encode_session_update,
    encode_truncate,
    session_payload,
)
from .frames import (
    AUDIO_DELTA_HEAD_DECODER,
    AUDIO_DELTA_PREFIXES,
    AudioDelta,
    AudioDone,
    DecodeFailure,
    ErrorFrame,
    FunctionArgumentsDelta,
    InputCleared,
    InputCommitted,
    InputTimeoutTriggered,
    InputTranscriptionCompleted,
    InputTranscriptionDelta,
    InputTranscriptionFailed,
    ItemAdded,
    ItemDeleted,
    ItemTruncated,
    OutputItemDone,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TextDone,
    TranscriptDelta,
    TranscriptDone,
    decode_server_frame,
)
from .item_codec import item_to_wire, wire_item_to_item

__all__ = [
    "INPUT_AUDIO_CLEAR",
    "INPUT_AUDIO_COMMIT",
    "audio_event",
    "decode_to_model_events",
    "encode",
    "encode_append_audio",
    "encode_item_create",
    "encode_response_cancel",
    "encode_response_create",
    "encode_session_update",
    "encode_truncate",
    "fast_audio_event",
    "item_to_wire",
    "session_payload",
    "to_model_events",
    "wire_item_to_item",
]


def _turn_ended(frame: ResponseDone) -> list[RealtimeModelEvent]:
    response = frame.response
    events: list[RealtimeModelEvent] = []
    if response.usage is not None:
        events.append(RealtimeModelUsageEvent(usage=response.usage, response_id=response.id))
    details = response.status_details or {}
    reason = details.get("reason")
    if reason is None and isinstance(details.get("error"), Mapping):
        reason = details["error"].get("code")
    events.append(
        RealtimeModelTurnEndedEvent(
            response_id=response.id,
            status=response.status,
            status_reason=reason if isinstance(reason, str) else None,
        )
    )
    return events


def audio_event(frame: AudioDelta) -> RealtimeModelAudioEvent:
    """The audio event of one audio delta frame (GA or beta name)."""
    return RealtimeModelAudioEvent(
        data=frame.delta,
        response_id=frame.response_id,
        item_id=frame.item_id,
        content_index=frame.content_index,
    )


def fast_audio_event(frame: bytes) -> RealtimeModelAudioEvent | None:
    """The audio event of an audio delta frame in the usual layout, or None.

    The usual layout is `type` first and `delta` last, its value plain base64:
    `{"type":"response.output_audio.delta",...,"delta":"<base64>"}`. The fields before
    `delta` are decoded as JSON (a small object) and the base64 by pybase64, which rejects
    anything outside the alphabet, so a `delta` that is not last, holds escapes or bad base64
    fails here. None means the full decoder must handle the frame (and report its errors);
    both paths give the same event for any frame this one accepts.
    """
    if not frame.startswith(AUDIO_DELTA_PREFIXES) or not frame.endswith(b'"}'):
        return None
    # The first `,"delta":"` (it cannot occur inside a JSON string, whose quotes are escaped).
    # If it is not the last member, the base64 check fails on the quotes that follow it.
    key = frame.find(b',"delta":"')
    if key < 0:
        return None
    head_bytes = frame[:key]
    if not head_bytes.isascii():  # (base64 is ASCII: the frame is then valid UTF-8)
        return None
    try:
        head = AUDIO_DELTA_HEAD_DECODER.decode(head_bytes + b"}")
        data = pybase64.b64decode(frame[key + 10 : -2], validate=True)
    except (msgspec.DecodeError, ValueError, RecursionError):  # binascii.Error: a ValueError
        return None
    return RealtimeModelAudioEvent(
        data=data,
        response_id=head.response_id,
        item_id=head.item_id,
        content_index=head.content_index,
    )


def to_model_events(frame: ServerEvent) -> list[RealtimeModelEvent]:
    """The model events one decoded frame stands for, with no connection state applied."""
    if isinstance(frame, AudioDelta):
        return [audio_event(frame)]
    if isinstance(frame, TranscriptDelta):
        return [
            RealtimeModelTranscriptDeltaEvent(
                item_id=frame.item_id,
                delta=frame.delta,
                response_id=frame.response_id,
                content_index=frame.content_index,
            )
        ]
    if isinstance(frame, TextDelta):
        return [
            RealtimeModelOutputTextDeltaEvent(
                item_id=frame.item_id,
                delta=frame.delta,
                response_id=frame.response_id,
                content_index=frame.content_index,
            )
        ]
    if isinstance(frame, ItemAdded):
        item = wire_item_to_item(frame.item, frame.previous_item_id)
        if item is None:
            return [RealtimeModelOtherEvent(data=frame)]
        return [RealtimeModelItemUpdatedEvent(item=item, previous_item_id=frame.previous_item_id)]
    if isinstance(frame, OutputItemDone):
        wire = frame.item
        if wire.type == "function_call" and wire.status in ("completed", None):
            return [
                RealtimeModelToolCallEvent(
                    name=wire.name or "",
                    call_id=wire.call_id or "",
                    arguments=wire.arguments or "",
                    id=wire.id,
                    response_id=frame.response_id,
                )
            ]
        return [RealtimeModelOtherEvent(data=frame)]
    return _convert_simple(frame)


def _convert_simple(frame: Any) -> list[RealtimeModelEvent]:
    event: RealtimeModelEvent
    if isinstance(frame, ErrorFrame):
        event = RealtimeModelErrorEvent(error=frame.error.to_info(), frame_type="error")
    elif isinstance(frame, SessionUpdated | SessionCreated):
        event = RealtimeModelSessionUpdatedEvent(
            session=frame.session, created=isinstance(frame, SessionCreated)
        )
    elif isinstance(frame, ItemTruncated):
        event = RealtimeModelItemTruncatedEvent(
            item_id=frame.item_id,
            audio_end_ms=frame.audio_end_ms,
            content_index=frame.content_index,
        )
    elif isinstance(frame, ItemDeleted):
        event = RealtimeModelItemDeletedEvent(item_id=frame.item_id)
    elif isinstance(frame, InputTranscriptionDelta):
        event = RealtimeModelInputAudioTranscriptionDeltaEvent(
            item_id=frame.item_id, delta=frame.delta, content_index=frame.content_index
        )
    elif isinstance(frame, InputTranscriptionCompleted):
        event = RealtimeModelInputAudioTranscriptionCompletedEvent(
            item_id=frame.item_id, transcript=frame.transcript, content_index=frame.content_index
        )
    elif isinstance(frame, InputTranscriptionFailed):
        event = RealtimeModelInputAudioTranscriptionFailedEvent(
            item_id=frame.item_id, error=frame.error.to_info(), content_index=frame.content_index
        )
    elif isinstance(frame, SpeechStarted):
        event = RealtimeModelInputSpeechStartedEvent(
            item_id=frame.item_id, audio_start_ms=frame.audio_start_ms
        )
    elif isinstance(frame, SpeechStopped):
        event = RealtimeModelInputSpeechStoppedEvent(
            item_id=frame.item_id, audio_end_ms=frame.audio_end_ms
        )
    elif isinstance(frame, InputCommitted):
        event = RealtimeModelInputAudioCommittedEvent(
            item_id=frame.item_id, previous_item_id=frame.previous_item_id
        )
    elif isinstance(frame, InputCleared):
        event = RealtimeModelInputAudioClearedEvent()
    elif isinstance(frame, InputTimeoutTriggered):
        event = RealtimeModelInputAudioTimeoutTriggeredEvent(
            item_id=frame.item_id,
            audio_start_ms=frame.audio_start_ms,
            audio_end_ms=frame.audio_end_ms,
        )
    elif isinstance(frame, ResponseCreated):
        event = RealtimeModelTurnStartedEvent(response_id=frame.response.id)
    elif isinstance(frame, ResponseDone):
        return _turn_ended(frame)
    elif isinstance(frame, AudioDone):
        event = RealtimeModelAudioDoneEvent(
            item_id=frame.item_id,
            content_index=frame.content_index,
            response_id=frame.response_id,
        )
    elif isinstance(frame, TextDone):
        event = RealtimeModelOutputTextDoneEvent(
            item_id=frame.item_id,
            text=frame.text,
            response_id=frame.response_id,
            content_index=frame.content_index,
        )
    elif isinstance(frame, TranscriptDone):
        event = RealtimeModelTranscriptDoneEvent(
            item_id=frame.item_id,
            transcript=frame.transcript,
            response_id=frame.response_id,
            content_index=frame.content_index,
        )
    elif isinstance(frame, FunctionArgumentsDelta):
        event = RealtimeModelToolCallArgumentsDeltaEvent(
            item_id=frame.item_id,
            call_id=frame.call_id,
            delta=frame.delta,
            response_id=frame.response_id,
        )
    else:
        event = RealtimeModelOtherEvent(data=frame)
    return [event]


def decode_to_model_events(frame: str | bytes) -> list[RealtimeModelEvent]:
    """Decode a frame and convert it with no connection state: at least one event, never raises."""
    decoded = decode_server_frame(frame)
    if isinstance(decoded, DecodeFailure):
        return [decoded.event]
    return to_model_events(decoded)
