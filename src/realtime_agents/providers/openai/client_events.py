"""Sans-I/O encoders of every OpenAI Realtime client event, with the session settings
translated to the GA `session.update` in one place (`session_payload`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ...settings import normalize_settings

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
