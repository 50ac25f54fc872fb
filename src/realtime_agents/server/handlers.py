"""Client event handlers of the sans-I/O core, one function per GA client event type."""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from ..audio import bytes_for_ms, bytes_per_second
from .active_response import event
from .conversation import ItemAudio, decode_base64, item_size, parse_client_item
from .effects import AnalyzeAudio, Close, Output
from .errors import ProtocolError
from .ids import new_id
from .json_validators import check_keys, expect_int, expect_object, expect_str
from .llm_prepare import llm_setup, prepare_effect
from .response_params import parse_response_params
from .session_config import apply_session_update
from .turns.session_turns import detector_for

if TYPE_CHECKING:
    from .protocol import SessionProtocol

Handler = Callable[["SessionProtocol", dict[str, Any], float, "str | None"], list[Output]]
_copy_encoder = msgspec.json.Encoder()
_copy_decoder = msgspec.json.Decoder()


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (the session, an item) for an event: what it holds now,
    whatever changes later (through msgspec: ~10x faster than `copy.deepcopy`)."""
    return _copy_decoder.decode(_copy_encoder.encode(value))


_ENVELOPE = ["type", "event_id"]


def session_update(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`session.update`: validate the whole update, then swap it in."""
    check_keys(message, [*_ENVELOPE, "session"], "", required=["session"])
    before = None if core.transcription_only else llm_setup(core.session)  # no LLM to prepare
    core.session = apply_session_update(
        core.session, message["session"], voice_locked=core.voice_locked
    )
    core.buffer.set_format(core.input_format)
    detection = core.turn_detection
    core.turns.configure(detection)
    if detection is None:
        reset_turn(core)
        core.idle_deadline = None
    else:
        core.detector = detector_for(detection, core.detector)
        if detection.get("idle_timeout_ms") is None:
            core.idle_deadline = None  # a timeout armed before the update no longer applies
    out: list[Output] = [event("session.updated", session=json_copy(core.session))]
    prepare = None if before is None else prepare_effect(before, core.session)
    if prepare is not None:  # prefill new tools/instructions before the first turn
        out.append(prepare)
    return out


def reset_turn(core: SessionProtocol) -> None:
    """Forget the turn in progress: the detector's state and the speech item it started."""
    core.detector.reset()
    core.speech_item_id = None


def session_close(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`session.close`: end the session normally."""
    check_keys(message, _ENVELOPE, "")
    core.closed = True
    return [Close(1000, "session closed by client")]


_APPEND_KEYS = frozenset([*_ENVELOPE, "audio"])
_AUDIO = ("audio",)


def input_audio_buffer_append(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`input_audio_buffer.append`: buffer audio and hand it to VAD."""
    check_keys(message, _APPEND_KEYS, "", required=_AUDIO)
    return append_audio(core, decode_base64(message["audio"], "audio"))


def append_audio(core: SessionProtocol, data: bytes) -> list[Output]:
    """Buffer decoded input audio (an append's `audio`) and hand it to VAD."""
    buffer = core.buffer
    size = len(data)
    if size % buffer.sample_bytes:
        raise ProtocolError(
            "invalid_value",
            "Invalid 'audio': PCM16 audio must hold whole 16-bit samples (an even byte count).",
            "audio",
        )
    limit = core.limits.max_audio_buffer_ms
    per_ms = buffer.bytes_per_ms
    buffered = len(buffer)
    if buffered / per_ms + size / per_ms > limit:
        raise ProtocolError(
            "input_audio_buffer_too_large",
            f"The input audio buffer would exceed its limit of {limit} ms; commit or clear it "
            "before appending more audio.",
            "audio",
        )
    start_ms = buffer.start_ms + buffered / per_ms  # buffer.end_ms
    buffer.append(data)
    if size and core.vad_enabled:
        return [AnalyzeAudio(data, buffer.format, start_ms)]
    return []


def input_audio_buffer_commit(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`input_audio_buffer.commit`: at least 100 ms becomes a user item."""
    check_keys(message, _ENVELOPE, "")
    buffered = core.buffer.duration_ms
    if buffered < 100:
        raise ProtocolError(
            "input_audio_buffer_commit_empty",
            "Error committing input audio buffer: buffer too small. Expected at least 100ms of "
            f"audio, but buffer only has {buffered:.2f}ms of audio.",
        )
    full = core.conversation_full()
    if full is not None:
        raise full
    item_id = core.speech_item_id or new_id("item")
    reset_turn(core)
    out = core.commit_audio(core.buffer.take_all(), item_id)
    if core.transcription_only:
        core.arm_idle_timeout(now)
    return out


def input_audio_buffer_clear(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`input_audio_buffer.clear`."""
    check_keys(message, _ENVELOPE, "")
    core.buffer.clear()
    reset_turn(core)
    return [event("input_audio_buffer.cleared")]


def conversation_item_create(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`conversation.item.create` (with `previous_item_id`, `"root"` = first)."""
    check_keys(message, [*_ENVELOPE, "item", "previous_item_id"], "", required=["item"])
    parsed = parse_client_item(message["item"])
    previous_id = message.get("previous_item_id")
    if previous_id is not None:
        expect_str(previous_id, "previous_item_id")
    item = parsed.item
    if item["id"] in core.conversation:
        raise ProtocolError(
            "invalid_value", f"Item with id '{item['id']}' already exists.", "item.id"
        )
    full = core.conversation_full(item_size(item))
    if full is not None:
        raise full
    previous = core.conversation.insert(item, previous_id)
    out: list[Output] = [
        event("conversation.item.added", previous_item_id=previous, item=json_copy(item)),
        event("conversation.item.done", previous_item_id=previous, item=json_copy(item)),
    ]
    if parsed.audio is not None:
        core.conversation.add_audio(
            item["id"], ItemAudio(input_audio=parsed.audio, input_format=core.input_format)
        )
        if all(part.get("transcript") is None for part in item["content"]):
            out += core.transcribe(item["id"], parsed.audio)
    return out


def _find_item(core: SessionProtocol, message: dict[str, Any], code: str) -> dict[str, Any]:
    item_id = expect_str(message["item_id"], "item_id")
    item = core.conversation.get(item_id)
    if item is None:
        raise ProtocolError(code, f"Item with item_id not found: {item_id}", "item_id")
    return item


def conversation_item_retrieve(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`conversation.item.retrieve`: the item, with its audio (user input or assistant output)
    while the conversation's audio budget still keeps it."""
    check_keys(message, [*_ENVELOPE, "item_id"], "", required=["item_id"])
    item = copy.deepcopy(_find_item(core, message, "item_retrieve_invalid_item_id"))
    audio = core.conversation.audio.get(item["id"])
    if audio is not None:
        for part in item.get("content", []):
            if part.get("type") == "input_audio" and audio.input_audio:
                part["audio"] = base64.b64encode(audio.input_audio).decode("ascii")
            elif part.get("type") == "output_audio" and audio.output_audio:
                part["audio"] = base64.b64encode(audio.output_audio).decode("ascii")
    return [event("conversation.item.retrieved", item=item)]


def conversation_item_truncate(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`conversation.item.truncate`: cut assistant audio and the transcript not heard."""
    check_keys(
        message,
        [*_ENVELOPE, "item_id", "content_index", "audio_end_ms"],
        "",
        required=["item_id", "content_index", "audio_end_ms"],
    )
    item = _find_item(core, message, "item_truncate_invalid_item_id")
    content_index = expect_int(message["content_index"], "content_index", minimum=0)
    audio_end_ms = expect_int(message["audio_end_ms"], "audio_end_ms", minimum=0)
    audio = core.conversation.audio.get(item["id"])
    if item.get("role") != "assistant" or audio is None:
        raise ProtocolError(
            "invalid_value",
            "Only assistant messages with audio content can be truncated.",
            "item_id",
        )
    if content_index != 0:
        raise ProtocolError(
            "invalid_value",
            f"Invalid content_index {content_index}: the audio part is 0.",
            "content_index",
        )
    fmt = audio.output_format
    length_ms = audio.output_bytes * 1000 / bytes_per_second(fmt)  # type: ignore[arg-type]
    if audio_end_ms > math.ceil(length_ms):
        raise ProtocolError(
            "invalid_value",
            f"Audio content of {length_ms:.0f}ms is already shorter than {audio_end_ms}ms",
            "audio_end_ms",
        )
    cut = min(audio.output_bytes, bytes_for_ms(audio_end_ms, fmt))  # type: ignore[arg-type]
    transcript = truncate_transcript(audio.segments, cut, audio.output_bytes)
    audio.segments = [(start, text) for start, text in audio.segments if start < cut]
    core.conversation.cut_output(audio, cut)
    for part in item.get("content", []):
        if part.get("type") == "output_audio":
            part["transcript"] = transcript
    core.conversation.resize(item["id"])
    return [
        event(
            "conversation.item.truncated",
            item_id=item["id"],
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )
    ]


def truncate_transcript(segments: list[tuple[int, str]], cut: int, total: int) -> str:
    """The transcript heard up to byte `cut`, cutting the last piece in proportion at a word."""
    text = ""
    for index, (start, piece) in enumerate(segments):
        if start >= cut:
            break
        end = segments[index + 1][0] if index + 1 < len(segments) else total
        if end <= cut or end <= start:
            text += piece
            continue
        keep = int(len(piece) * (cut - start) / (end - start))
        partial = piece[:keep]
        if keep < len(piece) and not piece[keep].isspace():
            partial = partial[: partial.rfind(" ") + 1]  # drop the word cut in half
        text += partial
        break
    return text.rstrip() if len(text) < sum(len(p) for _, p in segments) else text


def conversation_item_delete(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`conversation.item.delete`."""
    check_keys(message, [*_ENVELOPE, "item_id"], "", required=["item_id"])
    item = _find_item(core, message, "item_delete_invalid_item_id")
    core.conversation.delete(item["id"])
    core.pending_transcriptions.pop(item["id"], None)
    out: list[Output] = [event("conversation.item.deleted", item_id=item["id"])]
    return out + core.release_waiting(item["id"])


def response_create(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`response.create` with per-response overrides."""
    check_keys(message, [*_ENVELOPE, "response"], "")
    params = parse_response_params(message.get("response"), core.session)
    input_items = None if params.input is None else _resolve_input(core, params.input)
    if not params.out_of_band and core.default_response_id is not None:
        raise ProtocolError(
            "conversation_already_has_active_response",
            "Conversation already has an active response in progress: "
            f"{core.default_response_id}. Wait until the response is finished before creating "
            "a new one.",
        )
    full = core.out_of_band_full() if params.out_of_band else core.conversation_full()
    if full is not None:  # (an in-band response could not add its output)
        raise full
    if core.capacity.full:
        raise core.capacity.refusal()
    return core.create_response(params, input_items)


def _resolve_input(core: SessionProtocol, raw_items: list[Any]) -> list[dict[str, Any]]:
    items = []
    for index, raw in enumerate(raw_items):
        param = f"response.input[{index}]"
        if isinstance(raw, dict) and raw.get("type") == "item_reference":
            check_keys(raw, ["type", "id"], param, required=["id"])
            item = core.conversation.get(expect_str(raw["id"], f"{param}.id"))
            if item is None:
                raise ProtocolError(
                    "invalid_value", f"Item with id '{raw['id']}' not found.", f"{param}.id"
                )
            items.append(item)
        else:
            items.append(parse_client_item(expect_object(raw, param), param).item)
    return items


def response_cancel(
    core: SessionProtocol, message: dict[str, Any], now: float, event_id: str | None
) -> list[Output]:
    """`response.cancel`: the named or the default active response."""
    check_keys(message, [*_ENVELOPE, "response_id"], "")
    response_id = message.get("response_id")
    if response_id is not None:
        response_id = expect_str(response_id, "response_id")
    else:
        response_id = core.default_response_id
    response = core.responses.get(response_id) if response_id else None
    if response is None or response.finished:
        raise ProtocolError(
            "response_cancel_not_active", "Cancellation failed: no active response found"
        )
    return core.end_response(
        response, "cancelled", {"type": "cancelled", "reason": "client_cancelled"}
    )


HANDLERS: dict[str, Handler] = {
    # In this order in the `invalid_value` error listing the supported event types.
    "session.update": session_update,
    "session.close": session_close,
    "input_audio_buffer.append": input_audio_buffer_append,
    "session.input_audio_buffer.append": input_audio_buffer_append,
    "input_audio_buffer.commit": input_audio_buffer_commit,
    "input_audio_buffer.clear": input_audio_buffer_clear,
    "conversation.item.create": conversation_item_create,
    "conversation.item.truncate": conversation_item_truncate,
    "conversation.item.delete": conversation_item_delete,
    "conversation.item.retrieve": conversation_item_retrieve,
    "response.create": response_create,
    "response.cancel": response_cancel,
}
