"""Sans-I/O OpenAI Realtime client: frames and send events in, model events and frames out.

`OpenAIRealtimeProtocol` owns the turn state, the playback accounting and the replay record;
the WebSocket shell only moves bytes and events. Outgoing frames go to `outbox` in the order
they must be written, each tagged with a kind so that a reconnect knows which to keep.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import msgspec

from ...audio import AudioFormatError, AudioFormatName, bytes_for_ms, normalize_audio_format
from ...events import (
    RealtimeErrorInfo,
    RealtimeModelAudioEvent,
    RealtimeModelAudioInterruptedEvent,
    RealtimeModelEvent,
    RealtimeModelItemUpdatedEvent,
    RealtimeModelOtherEvent,
    RealtimeModelRawServerEvent,
    RealtimeModelTurnEndedEvent,
)
from ...inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendClearAudio,
    RealtimeModelSendConversationItem,
    RealtimeModelSendCreateResponse,
    RealtimeModelSendDeleteItem,
    RealtimeModelSendEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendRawMessage,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
)
from ...model import RealtimePlaybackTracker
from ...settings import merge_settings
from . import client_events, frames, item_codec, wire
from .inflight import DEFAULT_MAX_IN_FLIGHT_BYTES, InFlightItems, create_event_id, with_ids
from .replay import (
    DEFAULT_MAX_HISTORY_ITEMS,
    DEFAULT_MAX_UNSENT_AUDIO_BYTES,
    ReplayHistory,
    UnsentAudio,
)
from .turns import CANCEL_EVENT_PREFIX, Interruption, PlaybackState, ResponseSequencer

FrameKind: TypeAlias = Literal["audio", "commit", "item", "in_flight", "create", "other"]
"""Unsent `item` frames survive a reconnect; the rest are rebuilt from a record (audio and
commits from `unsent_audio`, `in_flight` item creates from `in_flight`, creates from the
sequencer) or moot."""

_GENERIC = msgspec.json.Decoder()


class AudioSkip(enum.Enum):
    """Why `receive_audio` gave no audio event for a frame."""

    NOT_AUDIO_DELTA = "not_audio_delta"
    """Not an audio delta in the usual layout (or raw events are on): `receive_other` takes it."""
    DROPPED = "dropped"
    """Late audio of an interrupted response: handled, nothing to emit."""


ReceivedAudio: TypeAlias = RealtimeModelAudioEvent | AudioSkip
"""What `receive_audio` returns: the audio event to emit, or why there is none."""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class OpenAIRealtimeProtocol:
    """The client side of one logical session, across reconnects."""

    def __init__(
        self,
        initial_settings: Mapping[str, Any] | None = None,
        *,
        playback_tracker: RealtimePlaybackTracker | None = None,
        max_history_items: int = DEFAULT_MAX_HISTORY_ITEMS,
        max_unsent_audio_bytes: int = DEFAULT_MAX_UNSENT_AUDIO_BYTES,
        max_in_flight_bytes: int = DEFAULT_MAX_IN_FLIGHT_BYTES,
        emit_raw_events: bool = False,
    ) -> None:
        self.settings: dict[str, Any] = dict(merge_settings({}, initial_settings or {}))
        self.sequencer = ResponseSequencer()
        self.playback = PlaybackState(tracker=playback_tracker)
        self.history = ReplayHistory(max_history_items)
        self.unsent_audio = UnsentAudio(max_unsent_audio_bytes)
        self.in_flight = InFlightItems(max_in_flight_bytes)
        self.outbox: list[tuple[FrameKind, bytes]] = []
        """Frames to send, oldest first (a list: an idle session keeps no buffer)."""
        self.emit_raw_events = emit_raw_events
        self.session_ready = False
        """True once `session.created` arrived and the session was set up on this connection."""
        self.session_expired = False
        self.server_interrupts = True
        """Whether server VAD cancels a response on speech (`interrupt_response`)."""
        self.last_error: RealtimeErrorInfo | None = None
        """The last error the server reported (to explain a close that follows it)."""
        self._resuming = False
        self._withheld_audio_bytes = 0
        self._cancel_counter = 0
        self._speech_end_ms: int | None = None
        """`audio_end_ms` of the last `speech_stopped` not yet followed by a commit."""
        self._input_bytes_per_ms = 48
        """Of the input audio format the server reported (PCM16 at 24 kHz until it says)."""
        self._initial_settings_given = bool(initial_settings)

    # ------------------------------------------------------------------ receiving

    def receive(self, frame: str | bytes, now: float) -> list[RealtimeModelEvent]:
        """Decode one server frame, update the state, queue replies; returns events to emit."""
        if frame.__class__ is bytes:
            audio = self.receive_audio(frame, now)
            if type(audio) is RealtimeModelAudioEvent:
                return [audio]
            if audio is AudioSkip.DROPPED:
                return []
        return self.receive_other(frame, now)

    def receive_audio(self, frame: bytes, now: float) -> ReceivedAudio:
        """The hot path, for an audio delta in the usual layout (see `wire.fast_audio_event`):
        its event, or why there is none."""
        if self.emit_raw_events:
            return AudioSkip.NOT_AUDIO_DELTA
        audio = wire.fast_audio_event(frame)
        if audio is None:
            return AudioSkip.NOT_AUDIO_DELTA
        return audio if self._accepts_audio(audio, now) else AudioSkip.DROPPED

    def receive_other(self, frame: str | bytes, now: float) -> list[RealtimeModelEvent]:
        """`receive` for a frame `receive_audio` did not take."""
        events = self._receive_decoded(frames.decode_server_frame(frame), now)
        if self.emit_raw_events and frames.nesting_within(frame):
            with contextlib.suppress(msgspec.DecodeError, ValueError, RecursionError):
                events.insert(0, RealtimeModelRawServerEvent(data=_GENERIC.decode(frame)))
        return events

    def _accepts_audio(self, audio: RealtimeModelAudioEvent, now: float) -> bool:
        """Every audio delta, by either decoder, comes here: record it for playback; False
        when it belongs to an interrupted response (drop it)."""
        return self.playback.accept_delta(
            audio.response_id, audio.item_id, audio.content_index, len(audio.data), now
        )

    def _receive_decoded(
        self, decoded: frames.ServerEvent | frames.DecodeFailure, now: float
    ) -> list[RealtimeModelEvent]:
        if isinstance(decoded, frames.DecodeFailure):
            return [decoded.event]
        if isinstance(decoded, frames.AudioDelta):
            event = wire.audio_event(decoded)
            return [event] if self._accepts_audio(event, now) else []
        if isinstance(decoded, frames.SpeechStarted):
            return self._barge_in(now) + wire.to_model_events(decoded)
        if isinstance(decoded, frames.ItemAdded):
            return self._on_item(decoded)
        if isinstance(decoded, frames.ErrorFrame):
            return self._on_error(decoded)
        if isinstance(decoded, frames.SessionCreated):
            self._on_session(decoded.session)
            self._start_session()
        elif isinstance(decoded, frames.SessionUpdated):
            self._on_session(decoded.session)
        elif isinstance(decoded, frames.ResponseCreated):
            self.sequencer.on_response_created(decoded.response.id)
        elif isinstance(decoded, frames.ResponseDone):
            self._push("create", self.sequencer.on_response_done(decoded.response.id))
        elif isinstance(decoded, frames.AudioDone):
            self.playback.on_audio_done(decoded.item_id)
        elif isinstance(decoded, frames.SpeechStopped):
            self._speech_end_ms = decoded.audio_end_ms
        elif isinstance(decoded, frames.InputCommitted):
            audio = self.unsent_audio.committed(self._speech_end_ms, self._input_bytes_per_ms)
            self._speech_end_ms = None
            overflow = self.history.keep_user_audio(decoded.item_id, audio)
            if overflow is not None:
                return [*wire.to_model_events(decoded), overflow]
        elif isinstance(decoded, frames.InputCleared):
            self.unsent_audio.clear()
        elif isinstance(decoded, frames.InputTranscriptionCompleted):
            self.history.set_transcript(decoded.item_id, decoded.content_index, decoded.transcript)
        elif isinstance(decoded, frames.ItemDeleted):
            self.history.delete(decoded.item_id)
        elif isinstance(decoded, frames.TranscriptDelta | frames.TextDelta):
            if not self.playback.is_dropped(decoded.response_id):  # not after an interrupt
                self.history.add_output_text(decoded.item_id, decoded.delta)
        elif isinstance(decoded, frames.ItemTruncated):
            self.history.truncated(decoded.item_id)
        return wire.to_model_events(decoded)

    def _on_item(self, frame: frames.ItemAdded) -> list[RealtimeModelEvent]:
        if frame.item.id:
            self.in_flight.acknowledge(frame.item.id)
        item = item_codec.wire_item_to_item(frame.item, frame.previous_item_id)
        if item is None:
            return [RealtimeModelOtherEvent(data=frame)]
        item, overflow = self.history.observe(item)
        updated = RealtimeModelItemUpdatedEvent(item=item, previous_item_id=frame.previous_item_id)
        return [updated] if overflow is None else [updated, overflow]

    def _on_error(self, frame: frames.ErrorFrame) -> list[RealtimeModelEvent]:
        code, event_id = frame.error.code, frame.error.event_id
        self.last_error = frame.error.to_info()
        if code == "session_expired":
            self.session_expired = True
        self.in_flight.rejected(event_id)
        if (
            event_id
            and event_id.startswith(CANCEL_EVENT_PREFIX)
            and code == "response_cancel_not_active"
        ):
            return []  # the response ended before our cancel arrived: nothing to report
        self._push("create", self.sequencer.on_error(event_id, code))
        if code == "conversation_already_has_active_response" and self.sequencer.pending_count:
            return []  # our create was re-queued behind the server's own response
        return wire.to_model_events(frame)

    def _on_session(self, session: Mapping[str, Any]) -> None:
        audio = _mapping(session.get("audio"))
        output = _mapping(audio.get("output"))
        audio_input = _mapping(audio.get("input"))
        fmt = output.get("format", session.get("output_audio_format"))
        if fmt is not None:
            try:
                name: AudioFormatName = normalize_audio_format(fmt)
            except AudioFormatError:
                pass
            else:
                self.playback.audio_format = name
                if self.playback.tracker is not None:
                    self.playback.tracker.set_audio_format(name)
        fmt_in = audio_input.get("format", session.get("input_audio_format"))
        if fmt_in is not None:
            with contextlib.suppress(AudioFormatError):
                self._input_bytes_per_ms = (
                    bytes_for_ms(1000, normalize_audio_format(fmt_in)) // 1000
                )
        turn = audio_input.get("turn_detection", session.get("turn_detection", {}))
        if turn is None:
            self.server_interrupts = False
        elif isinstance(turn, Mapping):
            self.server_interrupts = turn.get("interrupt_response", True) is not False

    def _start_session(self) -> None:
        """`session.created`: send the settings, and after a reconnect restore what was lost."""
        frames: list[tuple[FrameKind, bytes]] = []
        if self._initial_settings_given or self._resuming:
            frames.append(("other", client_events.encode_session_update(self.settings)))
        if self._resuming:
            frames.extend(("item", f) for f in self.history.replay_frames())
        frames.extend(self.outbox)  # uncommitted audio first (see on_connection_lost), then sends
        self.outbox = frames
        self._withheld_audio_bytes = 0
        self._resuming = False
        self.session_ready = True
        self._push("create", self.sequencer.resume())

    def _barge_in(self, now: float) -> list[RealtimeModelEvent]:
        if not self.server_interrupts:
            return []
        interruption = self.playback.interrupt(now)
        if interruption is None:
            return []
        self.playback.drop_response(interruption.response_id)
        return self._interrupted(interruption)

    def _interrupted(self, interruption: Interruption) -> list[RealtimeModelEvent]:
        if interruption.truncate_at_ms is not None:
            if interruption.received_ms > 0:
                self.history.heard(
                    interruption.item_id, interruption.truncate_at_ms / interruption.received_ms
                )
            self._push(
                "other",
                [
                    client_events.encode_truncate(
                        interruption.item_id,
                        interruption.content_index,
                        interruption.truncate_at_ms,
                    )
                ],
            )
        return [
            RealtimeModelAudioInterruptedEvent(
                item_id=interruption.item_id,
                content_index=interruption.content_index,
                response_id=interruption.response_id or None,
            )
        ]

    # ------------------------------------------------------------------ connection changes

    def on_connection_lost(self) -> list[RealtimeModelEvent]:
        """The socket is gone: keep what a new session needs; report responses cut short."""
        self.session_ready = False
        self._resuming = True
        self.session_expired = False
        kept = [entry for entry in self.outbox if entry[0] == "item"]
        self.outbox = [
            ("commit" if f is client_events.INPUT_AUDIO_COMMIT else "audio", f)
            for f in self.unsent_audio.replay_frames()
        ]
        self.unsent_audio.reconnected()
        self._speech_end_ms = None
        self.outbox.extend(("in_flight", f) for f in self.in_flight.replay_frames())
        self.outbox.extend(kept)
        self._withheld_audio_bytes = sum(len(frame) for _, frame in self.outbox)
        cut = self.sequencer.on_disconnect()
        return [
            RealtimeModelTurnEndedEvent(
                response_id=response_id, status="incomplete", status_reason="connection_lost"
            )
            for response_id in cut
        ]

    # ------------------------------------------------------------------ sending

    def send(self, event: RealtimeModelSendEvent, now: float) -> list[RealtimeModelEvent]:
        """Turn an app send event into frames in `outbox`; returns events to emit at once."""
        if isinstance(event, RealtimeModelSendAudio):
            return self._send_audio(event.audio, event.commit)
        if isinstance(event, RealtimeModelSendUserInput):
            return self._send_user_input(event)
        if isinstance(event, RealtimeModelSendToolOutput):
            output_item = {
                "type": "function_call_output",
                "call_id": event.tool_call.call_id,
                "output": event.output,
            }
            overflow = self._create_item(output_item)
            if event.start_response:
                self._push("create", self.sequencer.request())
            return overflow
        if isinstance(event, RealtimeModelSendConversationItem):
            previous = event.previous_item_id
            overflows: list[RealtimeModelEvent] = []
            for wire_item in item_codec.item_to_wire(event.item):
                overflows += self._create_item(wire_item, previous)
                previous = None
            return overflows
        if isinstance(event, RealtimeModelSendCreateResponse):
            params = {
                f: v
                for f in event.__struct_fields__
                if f != "type" and (v := getattr(event, f)) is not None
            }
            self._push("create", self.sequencer.request(params))
        elif isinstance(event, RealtimeModelSendInterrupt):
            return self._send_interrupt(event, now)
        elif isinstance(event, RealtimeModelSendSessionUpdate):
            self.settings = dict(merge_settings(self.settings, event.session_settings))
            self._push("other", [client_events.encode_session_update(event.session_settings)])
        elif isinstance(event, RealtimeModelSendClearAudio):
            self.unsent_audio.clear()
            self._push("other", [client_events.INPUT_AUDIO_CLEAR])
        elif isinstance(event, RealtimeModelSendDeleteItem):
            self.history.delete(event.item_id)  # not replayed after a reconnect either
            self.in_flight.acknowledge(event.item_id)
            delete = {"type": "conversation.item.delete", "item_id": event.item_id}
            self._push("item", [client_events.encode(delete)])
        elif isinstance(event, RealtimeModelSendRawMessage):
            return self._send_raw(event.message)
        else:  # pragma: no cover - exhaustive over RealtimeModelSendEvent
            raise TypeError(f"unsupported send event {type(event).__name__}")
        return []

    def _send_audio(self, audio: bytes, commit: bool) -> list[RealtimeModelEvent]:
        overflow = self.unsent_audio.append(audio)
        frame = client_events.encode_append_audio(audio)
        self.outbox.append(("audio", frame))
        if not self.session_ready:
            self._withhold(len(frame))
        if commit:
            self.unsent_audio.commit_sent()
            self.outbox.append(("commit", client_events.INPUT_AUDIO_COMMIT))
        return [] if overflow is None else [overflow]

    def _withhold(self, size: int) -> None:
        """Bound audio held while disconnected, like `unsent_audio` (base64 is 4/3 larger)."""
        self._withheld_audio_bytes += size
        limit = self.unsent_audio.max_bytes * 4 // 3 + 1024
        if self._withheld_audio_bytes <= limit:
            return
        kept: list[tuple[FrameKind, bytes]] = []
        for kind, frame in self.outbox:
            if kind == "audio" and self._withheld_audio_bytes > limit:
                self._withheld_audio_bytes -= len(frame)
            else:
                kept.append((kind, frame))
        self.outbox = kept

    def _send_user_input(self, event: RealtimeModelSendUserInput) -> list[RealtimeModelEvent]:
        user_input = event.user_input
        if isinstance(user_input, str):
            item: Mapping[str, Any] = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": user_input}],
            }
        else:
            item = user_input
        overflow = self._create_item(item)
        if event.start_response:
            self._push("create", self.sequencer.request())
        return overflow

    def _create_item(
        self, item: Mapping[str, Any], previous_item_id: str | None = None
    ) -> list[RealtimeModelEvent]:
        """Queue a `conversation.item.create` and keep it in flight until acknowledged."""
        item, item_id = with_ids(item)
        event_id = create_event_id(item_id)
        frame = client_events.encode_item_create(item, previous_item_id, event_id)
        self.outbox.append(("in_flight", frame))
        overflow = self.in_flight.add(item_id, event_id, frame)
        return [] if overflow is None else [overflow]

    def _send_interrupt(
        self, event: RealtimeModelSendInterrupt, now: float
    ) -> list[RealtimeModelEvent]:
        active = self.sequencer.active_responses
        events: list[RealtimeModelEvent] = []
        playing = self.playback.current_response_id
        if event.response_id is None or event.response_id == playing:
            interruption = self.playback.interrupt(now)
            if interruption is not None:
                self.playback.drop_response(interruption.response_id)
                events = self._interrupted(interruption)
        if event.cancel_response:
            targets = [event.response_id] if event.response_id in active else sorted(active)
            for response_id in targets:
                if not response_id:
                    continue
                self.playback.drop_response(response_id)
                self._cancel_counter += 1
                cancel_id = f"{CANCEL_EVENT_PREFIX}{self._cancel_counter}"
                self._push("other", [client_events.encode_response_cancel(response_id, cancel_id)])
        return events

    def _send_raw(self, message: Mapping[str, Any]) -> list[RealtimeModelEvent]:
        kind = message.get("type")
        if kind == "response.create":
            params = message.get("response")
            self._push("create", self.sequencer.request(params if params else None))
            return []
        if kind == "input_audio_buffer.append":
            audio = message.get("audio")
            if isinstance(audio, str):
                try:
                    decoded = base64.b64decode(audio, validate=True)
                except (binascii.Error, ValueError):
                    decoded = None
                if decoded is not None:
                    overflow = self.unsent_audio.append(decoded)
                    self._push("audio", [client_events.encode(message)])
                    return [] if overflow is None else [overflow]
        if kind == "input_audio_buffer.commit":
            self.unsent_audio.commit_sent()
            self._push("commit", [client_events.encode(message)])
            return []
        item = message.get("item")
        if kind == "conversation.item.create" and isinstance(item, Mapping):
            item, item_id = with_ids(item)
            event_id = message.get("event_id")
            if not isinstance(event_id, str) or not event_id:
                event_id = create_event_id(item_id)
            frame = client_events.encode({**message, "item": item, "event_id": event_id})
            self.outbox.append(("in_flight", frame))
            overflow = self.in_flight.add(item_id, event_id, frame)
            return [] if overflow is None else [overflow]
        kind_of_frame: FrameKind = "item" if kind == "conversation.item.create" else "other"
        self._push(kind_of_frame, [client_events.encode(message)])
        return []

    def _push(self, kind: FrameKind, frames: list[bytes]) -> None:
        for frame in frames:
            self.outbox.append((kind, frame))
