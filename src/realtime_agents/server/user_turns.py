"""A user turn in the sans-I/O core: VAD frames to speech events, the commit of the turn's
audio as a user item, its transcription (asked for and reported), and the idle timeout.

Each function takes the session's `SessionProtocol` (whose public methods delegate here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .active_response import event
from .conversation import ItemAudio, user_audio_item
from .effects import Output, Transcribe
from .engines.base import Hypothesis
from .handlers import json_copy
from .ids import new_id
from .input_audio import SpeechStarted, SpeechStopped
from .response_params import parse_response_params
from .turns.semantic import TranscriptWanted

if TYPE_CHECKING:
    from .protocol import SessionProtocol


def vad_frames(
    core: SessionProtocol, frames: Sequence[tuple[float, float, float]], now: float
) -> list[Output]:
    """Speech probabilities of consecutive frames: (start_ms, end_ms, probability)."""
    out: list[Output] = []
    if core.turn_detection is None or not frames:
        return out
    detector = core.detector
    speculator = core.speculator if core.speculator.enabled else None
    turns = core.turns
    for start_ms, end_ms, probability in frames:
        change = detector.frame(start_ms, end_ms, probability)
        if isinstance(change, SpeechStarted):
            out += speech_started(core, change, start_ms)
        elif isinstance(change, SpeechStopped):
            out += speech_stopped(core, change, now)
        elif turns.arbiter.holding and probability >= detector.threshold:
            turns.speech_resumed()
            out += turns.held_frame(core, end_ms, now)
        elif turns.arbiter.holding:
            out += turns.held_silence(core, end_ms)
        if speculator is not None:
            stopped = isinstance(change, SpeechStopped)
            out += speculator.frame(core, end_ms, probability, stopped)
        if isinstance(change, TranscriptWanted):  # after `Speculate`, whose transcript it uses
            out += turns.transcript_wanted(core, change)
    if not detector.in_speech:
        core.buffer.trim_before(frames[-1][1] - detector.prefix_padding_ms)
    return out


def speech_started(core: SessionProtocol, change: SpeechStarted, onset_ms: float) -> list[Output]:
    """The detector heard speech start: announced, unless held while the assistant speaks."""
    core.idle_deadline = None
    core.buffer.trim_before(change.audio_start_ms)
    core.speech_item_id = new_id("item")
    if core.turns.speech_started(core, change, onset_ms, core.speech_item_id):
        return []  # held while the assistant speaks: a backchannel or a noise resumes it
    core.turns.playback_cut(onset_ms)  # clients stop playing on `speech_started`
    return core.announce_speech(change.audio_start_ms, core.speech_item_id)


def announce_speech(core: SessionProtocol, audio_start_ms: int, item_id: str) -> list[Output]:
    """`speech_started` for `item_id`, and the interruption of the response it causes."""
    out: list[Output] = [
        event(
            "input_audio_buffer.speech_started",
            audio_start_ms=audio_start_ms,
            item_id=item_id,
        )
    ]
    detection = core.turn_detection
    if detection and detection.get("interrupt_response") and core.default_response_id:
        response = core.responses[core.default_response_id]
        out += core.end_response(
            response, "cancelled", {"type": "cancelled", "reason": "turn_detected"}
        )
    return out


def speech_stopped(core: SessionProtocol, change: SpeechStopped, now: float) -> list[Output]:
    """The detector heard speech stop: the turn ends, unless turn taking holds it."""
    held = core.turns.speech_stopped(core, change)
    if held is not None:
        return held
    return core.end_turn(change.audio_end_ms, now)


def turn_transcript(
    core: SessionProtocol,
    request: int,
    text: str,
    now: float,
    readings: Sequence[Hypothesis] = (),
) -> list[Output]:
    """The transcript a `TranscribeTurn` asked for (the speech so far at a pause)."""
    in_speech = core.detector.in_speech
    out = core.turns.transcript(core, request, text, now, readings)
    if in_speech and not core.detector.in_speech:
        core.speculator.active = False  # the turn ended here, as a silent frame would end it
    return out


def end_turn(core: SessionProtocol, audio_end_ms: int, now: float) -> list[Output]:
    """`speech_stopped`, the commit and (if configured) the response of a user turn."""
    item_id = core.speech_item_id or new_id("item")
    core.speech_item_id = None
    out: list[Output] = [
        event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)
    ]
    audio = core.buffer.take_until(core.buffer.start_ms, audio_end_ms)
    detection = core.turn_detection
    responds = bool(
        detection and detection.get("create_response") and core.default_response_id is None
    )
    # At capacity this turn's response is refused: its speech-to-text would only slow the
    # turns in progress, so it is refused too (issue 14 item 10).
    refused = core.capacity.full and responds and not core.transcription_only
    out += core.commit_audio(audio, item_id, refused=refused)
    if core.transcription_only:
        core.arm_idle_timeout(now)
        return out
    if responds:
        out += core.create_response(parse_response_params(None, core.session), None)
    return out


def arm_idle_timeout(core: SessionProtocol, now: float) -> None:
    """Start a transcription session's idle timeout at the end of a user turn (a realtime
    session's starts when the last response's audio ends: see `response_finished`)."""
    detection = core.turn_detection
    if detection is not None and detection.get("idle_timeout_ms") is not None:
        core.idle_deadline = now + detection["idle_timeout_ms"] / 1000


def idle_timeout(core: SessionProtocol) -> list[Output]:
    """The idle timeout fired: commit what the buffer holds (and respond, unless transcribing)."""
    item_id = new_id("item")
    position = int(core.buffer.end_ms)
    out: list[Output] = [
        event(
            "input_audio_buffer.timeout_triggered",
            audio_start_ms=position,
            audio_end_ms=position,
            item_id=item_id,
        )
    ]
    out += core.commit_audio(core.buffer.take_all(), item_id)
    if not core.transcription_only:
        out += core.create_response(parse_response_params(None, core.session), None)
    return out


def commit_audio(
    core: SessionProtocol, audio: bytes, item_id: str, *, refused: bool = False
) -> list[Output]:
    """Turn committed audio into a user item (and transcribe it, unless `refused`: the
    server is at capacity, and a configured transcription fails saying so)."""
    full = core.conversation_full()
    if full is not None:
        return [full.to_event(None)]
    item = user_audio_item(item_id)
    previous = core.conversation.insert(item)
    audio_of_item = ItemAudio(input_audio=audio, input_format=core.input_format)
    core.conversation.add_audio(item_id, audio_of_item)
    out: list[Output] = [
        event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
        event("conversation.item.added", previous_item_id=previous, item=json_copy(item)),
        event("conversation.item.done", previous_item_id=previous, item=json_copy(item)),
    ]
    if refused:
        core.pending_transcriptions[item_id] = (
            core.session["audio"]["input"]["transcription"] is not None
        )
        return out + core.transcription_failed(
            item_id, core.capacity.refusal().message, code="server_at_capacity"
        )
    out += core.transcribe(item_id, audio)
    return out


def transcribe(core: SessionProtocol, item_id: str, audio: bytes) -> list[Output]:
    """Ask for the item's transcript; its events are sent if transcription is configured,
    and always in a transcription session (null `transcription` there means the server's
    own speech-to-text engine, which the shell uses whatever `model` names)."""
    transcription = core.session["audio"]["input"]["transcription"]
    core.pending_transcriptions[item_id] = transcription is not None or core.transcription_only
    return [
        Transcribe(
            item_id,
            audio,
            core.input_format,
            (transcription or {}).get("language"),
            (transcription or {}).get("prompt"),
        )
    ]


def transcription_delta(core: SessionProtocol, item_id: str, delta: str) -> list[Output]:
    """Partial transcript of a user audio item."""
    if not delta or not core.pending_transcriptions.get(item_id):
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


def transcription_completed(core: SessionProtocol, item_id: str, transcript: str) -> list[Output]:
    """Final transcript of a user audio item; held responses may start now."""
    if item_id not in core.pending_transcriptions:
        return []
    send_events = core.pending_transcriptions.pop(item_id)
    out: list[Output] = []
    item = core.conversation.get(item_id)
    seconds = 0.0
    if item is not None:
        for part in item["content"]:
            if part["type"] == "input_audio":
                part["transcript"] = transcript
        core.conversation.resize(item_id)
        audio = core.conversation.audio.get(item_id)
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
    return out + core.release_waiting(item_id)


def transcription_failed(
    core: SessionProtocol, item_id: str, message: str, code: str = "transcription_failed"
) -> list[Output]:
    """Transcription failed; the item keeps a null transcript."""
    if item_id not in core.pending_transcriptions:
        return []
    out: list[Output] = []
    if core.pending_transcriptions.pop(item_id):
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
    return out + core.release_waiting(item_id)
