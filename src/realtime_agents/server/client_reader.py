"""Client messages from the socket to the session: size and depth checks, parsing, and a
guard that turns any exception a message raises into a `server_error` event.

No single client message may end a session: a frame too large, binary, not UTF-8, not JSON,
nested deeper than `MAX_JSON_DEPTH`, or one that makes a handler raise (a bug) is answered
with an `error` event and the session goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import msgspec
import numpy as np

from .effects import Close
from .errors import SERVER_ERROR, error_event
from .pipeline import SessionPipeline

logger = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
"""Nesting (objects and arrays) a client message may have, the event object itself counting
as 1: deeper messages get `invalid_json` before they are parsed. JSON schemas of tool
parameters nest a few levels per property; 64 leaves ample room."""
MAX_JSON_VALUES = 100_000
"""Values (objects, arrays and the entries between commas, outside strings) a client message
may hold: more get `invalid_json` before they are parsed. A parsed value costs 15 to 20 times
its JSON bytes in memory (`[[],[],...]`, `["","",...]`), so a 16 MiB frame of them would
take hundreds of MB, and seconds of the event loop; events hold hundreds at most."""

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
"""A JSON string (with escapes), removed before counting brackets and commas."""
_OPENS = np.zeros(256, dtype=np.int8)
_OPENS[[ord("["), ord("{")]] = 1
_OPENS[[ord("]"), ord("}")]] = -1


class _Append(
    msgspec.Struct,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="input_audio_buffer.append",
    gc=False,
):
    """The most frequent client event, read without building a dict (anything this does not
    decode takes the generic path, which reports every error)."""

    audio: str
    event_id: str | None = None


_append_decoder = msgspec.json.Decoder(_Append)


def structure_refusal(payload: bytes) -> str | None:
    """Why a client message's structure is refused before parsing (nested deeper than
    `MAX_JSON_DEPTH`, or more than `MAX_JSON_VALUES` values), or None. Counted outside
    strings, at C speed: a message with few brackets and commas is not even scanned."""
    containers = payload.count(b"[") + payload.count(b"{")
    if containers <= MAX_JSON_DEPTH and payload.count(b",") + containers <= MAX_JSON_VALUES:
        return None  # (these counts include brackets and commas in strings: upper bounds)
    bare = _STRING.sub(b"0", payload)
    containers = bare.count(b"[") + bare.count(b"{")
    if containers + bare.count(b",") > MAX_JSON_VALUES:
        return (
            f"Invalid event: more than {MAX_JSON_VALUES} JSON values (objects, arrays and "
            "array or object entries); the server refuses larger structures."
        )
    if containers > MAX_JSON_DEPTH:
        steps = _OPENS[np.frombuffer(bare, dtype=np.uint8)]
        if int(np.cumsum(steps, dtype=np.int32).max()) > MAX_JSON_DEPTH:
            return _too_deep_message()
    return None


def decode_client_json(payload: bytes) -> object:
    """The JSON value of a client text message, or a `_Refusal` saying why it is refused
    (invalid JSON, nested deeper than `MAX_JSON_DEPTH`, more than `MAX_JSON_VALUES` values)."""
    refusal = structure_refusal(payload)
    if refusal is not None:
        return _Refusal(refusal)
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError as error:
        return _Refusal(f"Invalid event: failed to parse JSON value. {error}")
    except RecursionError:  # (not expected after the depth check)
        return _Refusal(_too_deep_message())


def _too_deep_message() -> str:
    return (
        f"Invalid event: JSON nested more than {MAX_JSON_DEPTH} levels deep (objects and "
        "arrays); the server refuses deeper messages."
    )


class _Refusal:
    """Why a client message was not parsed (the `invalid_json` error message)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def handler_failure_event() -> dict[str, object]:
    """The `server_error` event a client message gets when handling it raised (the session
    goes on; the exception is in the server log)."""
    return error_event(
        None,
        "The server had an error while processing this event; it may have been applied in "
        "part. The session goes on.",
        error_type=SERVER_ERROR,
    )


class ClientReader:
    """Takes a session's client messages straight from the socket callback.

    Each message is handled synchronously (parsing, the core, inline VAD); events go to the
    pipeline's outgoing queue for the writer. The connection holds further messages and stops
    reading the socket (`has_room`) while that queue is over its count limit, while the
    events client messages put in it since the writer last emptied it hold more than
    `max_queued_bytes` (a tiny `conversation.item.retrieve` or `session.update` echoes a
    whole item or session, up to the frame limit), or while `can_write()` is false (the
    client is not taking what was sent). So what client messages make the server send waits
    for the client one message's worth at a time, not once per message in the queue."""

    def __init__(
        self,
        pipeline: SessionPipeline,
        max_frame_bytes: int,
        can_write: Callable[[], bool] = lambda: True,
        max_queued_bytes: int = 1024 * 1024,
    ) -> None:
        self.pipeline = pipeline
        self.core = pipeline.core
        self.limit = max_frame_bytes
        self.max_queued_bytes = max_queued_bytes
        self.queued_bytes = 0
        """What the events of client messages queued since the writer last took the queue
        encode to."""
        self.has_room = lambda: pipeline.has_room and can_write() and self._within_bytes()

    def _within_bytes(self) -> bool:
        if not self.pipeline.queued_events:
            self.queued_bytes = 0  # the writer took them: they count in `can_write` now
        return self.queued_bytes <= self.max_queued_bytes

    def sink(self, payload: bytes, is_text: bool) -> None:
        """One complete client message (`is_text`: a text frame, UTF-8 not yet checked)."""
        try:
            self._receive(payload, is_text)
        except Exception:  # a bug: the client is told, the session goes on
            logger.exception("handling a client message failed")
            self.pipeline.handle_nowait([handler_failure_event()])

    def _receive(self, payload: bytes, is_text: bool) -> None:
        pipeline = self.pipeline
        if not is_text:
            pipeline.handle_nowait(
                [
                    error_event(
                        "invalid_event",
                        "Expected a text WebSocket message; binary frames are not supported.",
                    )
                ]
            )
            return
        limit = self.limit
        if len(payload) > limit:
            pipeline.handle_nowait(
                [
                    error_event(
                        "message_too_large",
                        f"The message of {len(payload)} bytes exceeds the server's limit of "
                        f"{limit} bytes; send audio in smaller appends.",
                    )
                ]
            )
            return
        try:
            append = _append_decoder.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            pass  # another event, or an invalid one: the generic path says which
        else:
            pipeline.handle_nowait(self.core.append_audio(append.audio, append.event_id))
            return
        try:
            payload.decode()
        except UnicodeDecodeError as error:  # what websockets does with a bad text frame
            pipeline.handle_nowait(
                [Close(1007, f"invalid UTF-8 in a text message at position {error.start}")]
            )
            return
        parsed = decode_client_json(payload)
        if isinstance(parsed, _Refusal):
            pipeline.handle_nowait([error_event("invalid_json", parsed.message)])
            return
        for output in pipeline.receive_nowait(parsed):
            if isinstance(output, dict):
                self.queued_bytes += len(_encoder.encode(output))
