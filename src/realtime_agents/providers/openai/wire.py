"""Sans-I/O wire codec for the OpenAI Realtime API: decoded frames to model events; client events.

Decoding lives in `frames` (one msgspec pass per frame); this module maps frames to the model's
typed events, converts conversation items both ways, and encodes every client event, with the
session settings translated to the GA `session.update` in one place (`session_payload`).
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
from ...items import (
    AssistantContent,
    AssistantMessageItem,
    FunctionCallItem,
    InputAudio,
    InputImage,
    InputText,
    ItemStatus,
    OutputAudio,
    OutputText,
    RealtimeItem,
    SystemMessageItem,
    UserContent,
    UserMessageItem,
)
from ...settings import normalize_settings
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
    WireContent,
    WireItem,
    decode_server_frame,
)

# --------------------------------------------------------------------------- items


_STATUSES: frozenset[str] = frozenset({"in_progress", "completed", "incomplete"})


def _status(value: str | None) -> ItemStatus:
    return value if value in _STATUSES else "completed"  # type: ignore[return-value]


def _user_content(parts: list[WireContent]) -> tuple[UserContent, ...]:
    out: list[UserContent] = []
    for part in parts:
        if part.type in ("input_text", "text"):
            out.append(InputText(text=part.text or ""))
        elif part.type in ("input_audio", "audio"):
            out.append(InputAudio(transcript=part.transcript))
        elif part.type == "input_image":
            detail = part.detail if part.detail in ("auto", "low", "high") else None
            out.append(InputImage(image_url=part.image_url or "", detail=detail))  # type: ignore[arg-type]
    return tuple(out)


def _assistant_content(parts: list[WireContent]) -> tuple[AssistantContent, ...]:
    out: list[AssistantContent] = []
    for part in parts:
        if part.type in ("output_text", "text"):
            out.append(OutputText(text=part.text or ""))
        elif part.type in ("output_audio", "audio"):
            out.append(OutputAudio(transcript=part.transcript))
    return tuple(out)


def wire_item_to_item(item: WireItem, previous_item_id: str | None = None) -> RealtimeItem | None:
    """Our item for a wire item; None for item types we do not model (MCP and the like).

    A `function_call_output` becomes a `FunctionCallItem` with `output` set and an empty `name`
    (the conversation history fills in the call it answers).
    """
    item_id = item.id or ""
    status = _status(item.status)
    if item.type == "message":
        parts = item.content or []
        if item.role == "user":
            return UserMessageItem(
                item_id=item_id,
                content=_user_content(parts),
                previous_item_id=previous_item_id,
                status=status,
            )
        if item.role == "assistant":
            return AssistantMessageItem(
                item_id=item_id,
                content=_assistant_content(parts),
                previous_item_id=previous_item_id,
                status=status,
            )
        if item.role == "system":
            texts = tuple(InputText(text=p.text or "") for p in parts if p.text is not None)
            return SystemMessageItem(
                item_id=item_id, content=texts, previous_item_id=previous_item_id, status=status
            )
        return None
    if item.type == "function_call":
        return FunctionCallItem(
            item_id=item_id,
            call_id=item.call_id or "",
            name=item.name or "",
            arguments=item.arguments or "",
            previous_item_id=previous_item_id,
            status=status,
        )
    if item.type == "function_call_output":
        return FunctionCallItem(
            item_id=item_id,
            call_id=item.call_id or "",
            name="",
            output=item.output or "",
            previous_item_id=previous_item_id,
            status="completed",
        )
    return None


def item_to_wire(item: RealtimeItem, *, include_id: bool = True) -> list[dict[str, Any]]:
    """GA `conversation.item.create` items for one of our items (a call with output gives two).

    Audio content without bytes is sent as its transcript (as text), since the client cannot
    create assistant audio and the server does not echo user audio.
    """
    head: dict[str, Any] = {"id": item.item_id} if include_id and item.item_id else {}
    if isinstance(item, FunctionCallItem):
        result: list[dict[str, Any]] = []
        if item.name:
            result.append(
                {
                    **head,
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        if item.output is not None:
            result.append(
                {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
            )
        return result
    content: list[dict[str, Any]] = []
    if isinstance(item, AssistantMessageItem):
        for out_part in item.content:
            text = out_part.text if isinstance(out_part, OutputText) else out_part.transcript
            if text:
                content.append({"type": "output_text", "text": text})
    else:
        for in_part in item.content:
            if isinstance(in_part, InputText):
                content.append({"type": "input_text", "text": in_part.text})
            elif isinstance(in_part, InputAudio):
                if in_part.audio is not None:
                    content.append({"type": "input_audio", "audio": in_part.audio})
                elif in_part.transcript:
                    content.append({"type": "input_text", "text": in_part.transcript})
            else:
                image: dict[str, Any] = {"type": "input_image", "image_url": in_part.image_url}
                if in_part.detail is not None:
                    image["detail"] = in_part.detail
                content.append(image)
    if not content:
        return []
    return [{**head, "type": "message", "role": item.role, "content": content}]


# --------------------------------------------------------------------------- to model events


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


# --------------------------------------------------------------------------- client events

_ENCODER = msgspec.json.Encoder()


class _AppendAudio(msgspec.Struct, tag="input_audio_buffer.append", tag_field="type", gc=False):
    audio: bytes


INPUT_AUDIO_COMMIT = b'{"type":"input_audio_buffer.commit"}'
INPUT_AUDIO_CLEAR = b'{"type":"input_audio_buffer.clear"}'


def encode_append_audio(audio: bytes) -> bytes:
    """`input_audio_buffer.append`; msgspec writes the base64 straight into the output."""
    return _ENCODER.encode(_AppendAudio(audio))


def encode(message: Mapping[str, Any]) -> bytes:
    """Any client event given as a mapping (a raw message)."""
    return _ENCODER.encode(message)


def session_payload(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The GA `session` object for settings in any accepted shape; the one place it is built."""
    session: dict[str, Any] = {"type": "realtime"}
    for key, value in normalize_settings(settings).items():
        if key == "model_name":
            session["model"] = value
        elif key != "type":
            session[key] = value
    return session


def encode_session_update(settings: Mapping[str, Any]) -> bytes:
    """`session.update` with `type: "realtime"` always present."""
    return _ENCODER.encode({"type": "session.update", "session": session_payload(settings)})


def encode_item_create(
    item: Mapping[str, Any], previous_item_id: str | None = None, event_id: str | None = None
) -> bytes:
    """`conversation.item.create` for one GA item (with our `event_id`, if given, so that a
    rejection can be matched to it)."""
    message: dict[str, Any] = {"type": "conversation.item.create", "item": item}
    if event_id is not None:
        message["event_id"] = event_id
    if previous_item_id is not None:
        message["previous_item_id"] = previous_item_id
    return _ENCODER.encode(message)


def encode_response_create(params: Mapping[str, Any] | None, event_id: str) -> bytes:
    """`response.create` with our `event_id`, so a rejection can be matched to it."""
    message: dict[str, Any] = {"type": "response.create", "event_id": event_id}
    if params:
        message["response"] = params
    return _ENCODER.encode(message)


def encode_response_cancel(response_id: str | None, event_id: str) -> bytes:
    """`response.cancel`, for one response when its id is known."""
    message: dict[str, Any] = {"type": "response.cancel", "event_id": event_id}
    if response_id:
        message["response_id"] = response_id
    return _ENCODER.encode(message)


def encode_truncate(item_id: str, content_index: int, audio_end_ms: int) -> bytes:
    """`conversation.item.truncate` at what the user heard."""
    return _ENCODER.encode(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": content_index,
            "audio_end_ms": audio_end_ms,
        }
    )
