"""Server frames of the OpenAI Realtime API as msgspec structs, and their one-pass decoder.

Server frames are decoded once, by msgspec, straight into the tagged union `ServerEvent`
(the tag is the frame's `type`; base64 audio becomes `bytes` in the same pass). GA and beta
spellings both decode. A frame whose `type` is not in the union becomes a
`RealtimeModelOtherEvent`; a frame that is not valid JSON or has wrong field types becomes a
`RealtimeModelErrorEvent` naming the frame's type and the reason. Nothing here raises on input
from the network.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias, get_args

import msgspec

from ...events import (
    RealtimeErrorInfo,
    RealtimeModelErrorEvent,
    RealtimeModelOtherEvent,
    RealtimeUsage,
)

# --------------------------------------------------------------------------- shared wire objects


class WireError(msgspec.Struct, kw_only=True, gc=False):
    """The `error` object of an error frame (all fields tolerant of null)."""

    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    event_id: str | None = None

    def to_info(self) -> RealtimeErrorInfo:
        return RealtimeErrorInfo(
            message=self.message or "",
            type=self.type or "error",
            code=self.code,
            param=self.param,
            event_id=self.event_id,
        )


class WireContent(msgspec.Struct, kw_only=True, gc=False):
    """One content part of an item; audio stays base64 text (it is never needed decoded)."""

    type: str
    text: str | None = None
    transcript: str | None = None
    audio: str | None = None
    image_url: str | None = None
    detail: str | None = None


class WireItem(msgspec.Struct, kw_only=True, gc=False):
    """A conversation item as the server sends it (messages, function calls and outputs)."""

    type: str
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: list[WireContent] | None = None
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None
    output: str | None = None


class WireResponse(msgspec.Struct, kw_only=True, gc=False):
    """The `response` object of `response.created` / `response.done` (output items skipped)."""

    id: str | None = None
    status: str | None = None
    status_details: dict[str, Any] | None = None
    usage: RealtimeUsage | None = None


# --------------------------------------------------------------------------- server events


class _Server(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    """Base of every decoded server frame; `event_id` is the server's id."""

    event_id: str | None = None


class ErrorFrame(_Server, tag="error"):
    error: WireError


class SessionCreated(_Server, tag="session.created"):
    session: dict[str, Any]


class SessionUpdated(_Server, tag="session.updated"):
    session: dict[str, Any]


class BetaTranscriptionSessionUpdated(SessionUpdated, tag="transcription_session.updated"):
    pass


class ItemAdded(_Server, tag="conversation.item.added"):
    item: WireItem
    previous_item_id: str | None = None


class ItemDone(ItemAdded, tag="conversation.item.done"):
    pass


class BetaItemCreated(ItemAdded, tag="conversation.item.created"):
    pass


class ItemRetrieved(ItemAdded, tag="conversation.item.retrieved"):
    pass


class ItemTruncated(_Server, tag="conversation.item.truncated"):
    item_id: str
    audio_end_ms: int
    content_index: int = 0


class ItemDeleted(_Server, tag="conversation.item.deleted"):
    item_id: str


class InputTranscriptionDelta(_Server, tag="conversation.item.input_audio_transcription.delta"):
    item_id: str
    delta: str
    content_index: int = 0


class InputTranscriptionCompleted(
    _Server, tag="conversation.item.input_audio_transcription.completed"
):
    item_id: str
    transcript: str
    content_index: int = 0


class InputTranscriptionFailed(_Server, tag="conversation.item.input_audio_transcription.failed"):
    item_id: str
    error: WireError
    content_index: int = 0


class SpeechStarted(_Server, tag="input_audio_buffer.speech_started"):
    item_id: str
    audio_start_ms: int = 0


class SpeechStopped(_Server, tag="input_audio_buffer.speech_stopped"):
    item_id: str
    audio_end_ms: int = 0


class InputCommitted(_Server, tag="input_audio_buffer.committed"):
    item_id: str
    previous_item_id: str | None = None


class InputCleared(_Server, tag="input_audio_buffer.cleared"):
    pass


class InputTimeoutTriggered(_Server, tag="input_audio_buffer.timeout_triggered"):
    item_id: str
    audio_start_ms: int = 0
    audio_end_ms: int = 0


class ResponseCreated(_Server, tag="response.created"):
    response: WireResponse


class ResponseDone(_Server, tag="response.done"):
    response: WireResponse


class OutputItemAdded(_Server, tag="response.output_item.added"):
    item: WireItem
    response_id: str | None = None
    output_index: int = 0


class OutputItemDone(OutputItemAdded, tag="response.output_item.done"):
    pass


class _ResponsePart(_Server, kw_only=True, gc=False):
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class AudioDelta(_ResponsePart, tag="response.output_audio.delta"):
    """The hot path: `delta` is base64-decoded by msgspec while parsing."""

    delta: bytes


class BetaAudioDelta(AudioDelta, tag="response.audio.delta"):
    pass


class AudioDeltaHead(msgspec.Struct, kw_only=True, gc=False):
    """The fields of an audio delta (GA or beta) before its `delta`, for
    `wire.fast_audio_event`, which decodes the base64 itself (SIMD `pybase64` is about twice
    as fast as msgspec's base64, and the JSON scanner then never walks the audio)."""

    type: str
    event_id: str = ""
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


AUDIO_DELTA_HEAD_DECODER: msgspec.json.Decoder[AudioDeltaHead] = msgspec.json.Decoder(
    AudioDeltaHead
)
AUDIO_DELTA_PREFIXES = (b'{"type":"response.output_audio.delta"', b'{"type":"response.audio.delta"')
"""How audio deltas start as OpenAI (and the local server) write them: `type` first (and
`delta` last)."""


class AudioDone(_ResponsePart, tag="response.output_audio.done"):
    pass


class BetaAudioDone(AudioDone, tag="response.audio.done"):
    pass


class TextDelta(_ResponsePart, tag="response.output_text.delta"):
    delta: str


class BetaTextDelta(TextDelta, tag="response.text.delta"):
    pass


class TextDone(_ResponsePart, tag="response.output_text.done"):
    text: str = ""


class BetaTextDone(TextDone, tag="response.text.done"):
    pass


class TranscriptDelta(_ResponsePart, tag="response.output_audio_transcript.delta"):
    delta: str


class BetaTranscriptDelta(TranscriptDelta, tag="response.audio_transcript.delta"):
    pass


class TranscriptDone(_ResponsePart, tag="response.output_audio_transcript.done"):
    transcript: str = ""


class BetaTranscriptDone(TranscriptDone, tag="response.audio_transcript.done"):
    pass


class FunctionArgumentsDelta(_Server, tag="response.function_call_arguments.delta"):
    delta: str
    item_id: str = ""
    call_id: str = ""
    response_id: str | None = None
    output_index: int = 0


class FunctionArgumentsDone(_Server, tag="response.function_call_arguments.done"):
    arguments: str
    item_id: str = ""
    call_id: str = ""
    name: str | None = None
    response_id: str | None = None
    output_index: int = 0


ServerEvent: TypeAlias = (
    ErrorFrame
    | SessionCreated
    | SessionUpdated
    | BetaTranscriptionSessionUpdated
    | ItemAdded
    | ItemDone
    | BetaItemCreated
    | ItemRetrieved
    | ItemTruncated
    | ItemDeleted
    | InputTranscriptionDelta
    | InputTranscriptionCompleted
    | InputTranscriptionFailed
    | SpeechStarted
    | SpeechStopped
    | InputCommitted
    | InputCleared
    | InputTimeoutTriggered
    | ResponseCreated
    | ResponseDone
    | OutputItemAdded
    | OutputItemDone
    | AudioDelta
    | BetaAudioDelta
    | AudioDone
    | BetaAudioDone
    | TextDelta
    | BetaTextDelta
    | TextDone
    | BetaTextDone
    | TranscriptDelta
    | BetaTranscriptDelta
    | TranscriptDone
    | BetaTranscriptDone
    | FunctionArgumentsDelta
    | FunctionArgumentsDone
)
"""Every server frame this codec models, keyed on the frame's `type`."""

KNOWN_SERVER_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag) for cls in get_args(ServerEvent)
)

_SERVER_DECODER: msgspec.json.Decoder[ServerEvent] = msgspec.json.Decoder(ServerEvent)
_GENERIC_DECODER = msgspec.json.Decoder()


class _TypeProbe(msgspec.Struct, gc=False):
    type: Any = None


_TYPE_PROBE = msgspec.json.Decoder(_TypeProbe)


class DecodeFailure(msgspec.Struct, frozen=True, gc=False):
    """The result for a frame that is not a `ServerEvent`: an unknown type or a malformed frame."""

    event: RealtimeModelOtherEvent | RealtimeModelErrorEvent


def _frame_type(frame: str | bytes) -> str | None:
    try:
        probed = _TYPE_PROBE.decode(frame).type
    except (msgspec.DecodeError, TypeError, ValueError, RecursionError):
        return None
    return probed if isinstance(probed, str) else None


MAX_NESTING = 128
"""Deepest nesting of arrays and objects a server frame may have (msgspec's decoder
recurses; OpenAI's frames, tool schemas included, stay far below this)."""

_NESTING_TOKENS = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*"')
_NESTING_TOKENS_TEXT = re.compile(r'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def nesting_within(frame: str | bytes, limit: int = MAX_NESTING) -> bool:
    """True if arrays and objects in the JSON `frame` nest at most `limit` deep.

    Counting brackets settles almost every frame; only a frame with more than `limit` of
    them is scanned (brackets inside strings do not count), stopping past the limit.
    """
    if isinstance(frame, bytes):
        if frame.count(b"[") + frame.count(b"{") <= limit:
            return True
        tokens = _NESTING_TOKENS.finditer(frame)
        opening: tuple[object, ...] = (b"[", b"{")
        closing: tuple[object, ...] = (b"]", b"}")
    else:
        if frame.count("[") + frame.count("{") <= limit:
            return True
        tokens = _NESTING_TOKENS_TEXT.finditer(frame)  # type: ignore[assignment]
        opening, closing = ("[", "{"), ("]", "}")
    depth = 0
    for match in tokens:
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limit:
                return False
        elif token in closing:
            depth -= 1
    return True


def utf8_problem(payload: bytes) -> str | None:
    """Why `payload` is not valid UTF-8 (as `websockets` words it), or None if it is."""
    if payload.isascii():
        return None
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        return f"{exc.reason} at position {exc.start}"
    return None


def decode_server_frame(frame: str | bytes) -> ServerEvent | DecodeFailure:
    """Decode one server frame; never raises on any input."""
    if isinstance(frame, bytes):  # (msgspec checks only the strings it keeps)
        problem = utf8_problem(frame)
        if problem is not None:
            return DecodeFailure(_malformed(None, f"not valid UTF-8: {problem}"))
    if not nesting_within(frame):
        return DecodeFailure(
            _malformed(None, f"invalid JSON: nested deeper than {MAX_NESTING} levels")
        )
    try:
        return _SERVER_DECODER.decode(frame)
    except msgspec.ValidationError as exc:
        frame_type = _frame_type(frame)
        if frame_type is not None and frame_type not in KNOWN_SERVER_TYPES:
            try:
                return DecodeFailure(RealtimeModelOtherEvent(data=_GENERIC_DECODER.decode(frame)))
            except msgspec.DecodeError as generic_exc:
                return DecodeFailure(_malformed(frame_type, f"invalid JSON: {generic_exc}"))
            except UnicodeDecodeError as generic_exc:
                return DecodeFailure(_malformed(frame_type, _not_utf8(generic_exc)))
        return DecodeFailure(_malformed(frame_type, f"invalid {frame_type or 'frame'}: {exc}"))
    except msgspec.DecodeError as exc:
        return DecodeFailure(_malformed(None, f"invalid JSON: {exc}"))
    except UnicodeDecodeError as exc:  # (a binary frame: text frames are checked before)
        return DecodeFailure(_malformed(None, _not_utf8(exc)))
    except RecursionError:  # within MAX_NESTING, but the stack was already deep
        return DecodeFailure(_malformed(None, "invalid JSON: nested too deep to decode"))
    except TypeError as exc:  # not str/bytes at all
        return DecodeFailure(_malformed(None, f"unexpected frame of type {type(exc).__name__}"))


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"not valid UTF-8: {exc.reason} at position {exc.start}"


def _malformed(frame_type: str | None, reason: str) -> RealtimeModelErrorEvent:
    return RealtimeModelErrorEvent(
        error=RealtimeErrorInfo(message=reason, type="decode_error", code="malformed_frame"),
        frame_type=frame_type,
    )
