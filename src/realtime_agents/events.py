"""Typed events a `RealtimeModel` emits to its listeners (`RealtimeModelEvent`).

Each event is a small immutable struct whose `type` field is a literal, so code can branch on
`event.type` (or use `match`) and type checkers narrow the union.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec

from .items import RealtimeItem


class RealtimeErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An error as the server (or the decoder) reported it."""

    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    event_id: str | None = None
    """The client event that caused it, when known."""


class RealtimeModelErrorEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A non-fatal error: the server rejected something, or a frame could not be decoded."""

    error: RealtimeErrorInfo
    frame_type: str | None = None
    """The `type` of the offending server frame, for decode errors."""
    type: Literal["error"] = "error"


class RealtimeModelToolCallEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The model called a tool; answer with `RealtimeModelSendToolOutput`."""

    name: str
    call_id: str
    arguments: str
    id: str | None = None
    """The item id of the function call."""
    previous_item_id: str | None = None
    response_id: str | None = None
    type: Literal["function_call"] = "function_call"


class RealtimeModelToolCallArgumentsDeltaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece of a tool call's arguments."""

    item_id: str
    call_id: str
    delta: str
    response_id: str | None = None
    type: Literal["function_call_arguments_delta"] = "function_call_arguments_delta"


class RealtimeModelAudioEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A chunk of model audio in the session's output format."""

    data: bytes
    response_id: str
    item_id: str
    content_index: int = 0
    type: Literal["audio"] = "audio"


class RealtimeModelAudioInterruptedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Playback of this item must stop now (barge-in or interrupt)."""

    item_id: str
    content_index: int = 0
    response_id: str | None = None
    type: Literal["audio_interrupted"] = "audio_interrupted"


class RealtimeModelAudioDoneEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The model finished sending audio for this item."""

    item_id: str
    content_index: int = 0
    response_id: str | None = None
    type: Literal["audio_done"] = "audio_done"


class RealtimeModelInputSpeechStartedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Server VAD heard the user start speaking."""

    item_id: str
    audio_start_ms: int
    type: Literal["input_speech_started"] = "input_speech_started"


class RealtimeModelInputSpeechStoppedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Server VAD heard the user stop speaking."""

    item_id: str
    audio_end_ms: int
    type: Literal["input_speech_stopped"] = "input_speech_stopped"


class RealtimeModelInputAudioCommittedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The input audio buffer was committed as a user item."""

    item_id: str
    previous_item_id: str | None = None
    type: Literal["input_audio_committed"] = "input_audio_committed"


class RealtimeModelInputAudioClearedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The input audio buffer was cleared."""

    type: Literal["input_audio_cleared"] = "input_audio_cleared"


class RealtimeModelInputAudioTranscriptionDeltaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece of the user's transcript."""

    item_id: str
    delta: str
    content_index: int = 0
    type: Literal["input_audio_transcription_delta"] = "input_audio_transcription_delta"


class RealtimeModelInputAudioTranscriptionCompletedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The user's transcript for an item is final."""

    item_id: str
    transcript: str
    content_index: int = 0
    type: Literal["input_audio_transcription_completed"] = "input_audio_transcription_completed"


class RealtimeModelInputAudioTranscriptionFailedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Transcription of the user's audio failed."""

    item_id: str
    error: RealtimeErrorInfo
    content_index: int = 0
    type: Literal["input_audio_transcription_failed"] = "input_audio_transcription_failed"


class RealtimeModelInputAudioTimeoutTriggeredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Server VAD's idle timeout fired with no speech."""

    item_id: str
    audio_start_ms: int
    audio_end_ms: int
    type: Literal["input_audio_timeout_triggered"] = "input_audio_timeout_triggered"


class RealtimeModelTranscriptDeltaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece of the assistant's audio transcript."""

    item_id: str
    delta: str
    response_id: str
    content_index: int = 0
    type: Literal["transcript_delta"] = "transcript_delta"


class RealtimeModelTranscriptDoneEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The assistant's audio transcript for an item is complete."""

    item_id: str
    transcript: str
    response_id: str
    content_index: int = 0
    type: Literal["transcript_done"] = "transcript_done"


class RealtimeModelOutputTextDeltaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece of the assistant's text output."""

    item_id: str
    delta: str
    response_id: str
    content_index: int = 0
    type: Literal["output_text_delta"] = "output_text_delta"


class RealtimeModelOutputTextDoneEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The assistant's text output for an item is complete."""

    item_id: str
    text: str
    response_id: str
    content_index: int = 0
    type: Literal["output_text_done"] = "output_text_done"


class RealtimeModelItemUpdatedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An item was added to the conversation or changed."""

    item: RealtimeItem
    previous_item_id: str | None = None
    type: Literal["item_updated"] = "item_updated"


class RealtimeModelItemDeletedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An item was removed from the conversation."""

    item_id: str
    type: Literal["item_deleted"] = "item_deleted"


class RealtimeModelItemTruncatedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An assistant item's audio was cut at `audio_end_ms` (what the user heard)."""

    item_id: str
    audio_end_ms: int
    content_index: int = 0
    type: Literal["item_truncated"] = "item_truncated"


ConnectionStatus: TypeAlias = Literal["connecting", "connected", "reconnecting", "disconnected"]


class RealtimeModelConnectionStatusEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The connection changed state; `reason` says why when it was not asked for."""

    status: ConnectionStatus
    reason: str | None = None
    attempt: int = 0
    type: Literal["connection_status"] = "connection_status"


class RealtimeModelEndOfStreamEvent(msgspec.Struct, frozen=True, kw_only=True):
    """No more events will come from this connection; always the last event."""

    reason: str | None = None
    type: Literal["end_of_stream"] = "end_of_stream"


class RealtimeModelSessionUpdatedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The server created or updated the session; `session` is its full effective config."""

    session: dict[str, Any]
    created: bool = False
    type: Literal["session_updated"] = "session_updated"


class RealtimeModelTurnStartedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The model started a response."""

    response_id: str | None = None
    type: Literal["turn_started"] = "turn_started"


class RealtimeModelTurnEndedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The model finished a response (`status`: completed, cancelled, incomplete, failed)."""

    response_id: str | None = None
    status: str | None = None
    status_reason: str | None = None
    type: Literal["turn_ended"] = "turn_ended"


class RealtimeCachedTokensDetails(msgspec.Struct, frozen=True, kw_only=True):
    """Cached input tokens per modality."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0


class RealtimeInputTokensDetails(msgspec.Struct, frozen=True, kw_only=True):
    """Input tokens per modality."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    cached_tokens: int = 0
    cached_tokens_details: RealtimeCachedTokensDetails | None = None


class RealtimeOutputTokensDetails(msgspec.Struct, frozen=True, kw_only=True):
    """Output tokens per modality."""

    text_tokens: int = 0
    audio_tokens: int = 0


class RealtimeUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Token usage of one response."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_token_details: RealtimeInputTokensDetails | None = None
    output_token_details: RealtimeOutputTokensDetails | None = None


class RealtimeModelUsageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Token usage of a finished response."""

    usage: RealtimeUsage
    response_id: str | None = None
    type: Literal["usage"] = "usage"


class RealtimeModelOtherEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A server event this library does not model (vendor extensions); never an error."""

    data: Any
    type: Literal["other"] = "other"


class RealtimeModelExceptionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An exception raised inside the model or a listener; the connection goes on."""

    exception: BaseException
    context: str | None = None
    type: Literal["exception"] = "exception"


class RealtimeModelRawServerEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A server frame as a dict, for apps that opt in to raw events."""

    data: Any
    type: Literal["raw_server_event"] = "raw_server_event"


RealtimeModelEvent: TypeAlias = (
    RealtimeModelErrorEvent
    | RealtimeModelToolCallEvent
    | RealtimeModelToolCallArgumentsDeltaEvent
    | RealtimeModelAudioEvent
    | RealtimeModelAudioInterruptedEvent
    | RealtimeModelAudioDoneEvent
    | RealtimeModelInputSpeechStartedEvent
    | RealtimeModelInputSpeechStoppedEvent
    | RealtimeModelInputAudioCommittedEvent
    | RealtimeModelInputAudioClearedEvent
    | RealtimeModelInputAudioTranscriptionDeltaEvent
    | RealtimeModelInputAudioTranscriptionCompletedEvent
    | RealtimeModelInputAudioTranscriptionFailedEvent
    | RealtimeModelInputAudioTimeoutTriggeredEvent
    | RealtimeModelTranscriptDeltaEvent
    | RealtimeModelTranscriptDoneEvent
    | RealtimeModelOutputTextDeltaEvent
    | RealtimeModelOutputTextDoneEvent
    | RealtimeModelItemUpdatedEvent
    | RealtimeModelItemDeletedEvent
    | RealtimeModelItemTruncatedEvent
    | RealtimeModelConnectionStatusEvent
    | RealtimeModelEndOfStreamEvent
    | RealtimeModelSessionUpdatedEvent
    | RealtimeModelTurnStartedEvent
    | RealtimeModelTurnEndedEvent
    | RealtimeModelUsageEvent
    | RealtimeModelOtherEvent
    | RealtimeModelExceptionEvent
    | RealtimeModelRawServerEvent
)
"""Every event a `RealtimeModel` can emit."""
