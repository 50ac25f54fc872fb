"""A session's turn taking beyond silence, wired into the sans-I/O core.

`TurnTaking` holds what the core needs per session: where the assistant's audio plays
(`Playout`), the echo gate the VAD shell consults (`EchoGate`), the false-interruption
arbiter with the paused response's held outputs, and the transcript requests of the
`semantic_vad` detector and the arbiter (`TranscribeTurn` effects, answered with
`SessionProtocol.turn_transcript`). It calls the core only through `TurnCore`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ...audio import AudioFormatName, decode_to_pcm16, sample_rate_of
from ..effects import Output, TranscribeTurn
from ..engines.base import Hypothesis, LlmToolCall
from ..input_audio import InputAudioBuffer, SpeechStarted, SpeechStopped, TurnDetector
from ..session_config import vad_parameters
from .echo import EchoGate
from .interruptions import (
    BACKCHANNEL_PROMPT,
    RESUME_SILENCE_MS,
    InterruptionArbiter,
    InterruptionRules,
    judge,
    words_of,
)
from .options import echo_suppression_enabled, false_interruption_options
from .playout import Playout
from .semantic import SemanticTurnDetector, TranscriptWanted

if TYPE_CHECKING:
    from ..active_response import ActiveResponse

logger = logging.getLogger(__name__)
MAX_SAID_WORDS = 200
"""The assistant's words kept to recognise its echo in speech held over an answer."""
Detector = TurnDetector | SemanticTurnDetector
Purpose = Literal["end_of_turn", "interruption"]


@dataclass(frozen=True, slots=True)
class _Request:
    """An open transcript request."""

    purpose: Purpose
    speech_end_ms: float
    audio: bytes
    interim: bool = False
    """Of held speech that goes on (a check at `min_interruption_ms` and after)."""
    second: bool = False
    """The second opinion (biased toward backchannels) on `first_text`."""
    first_text: str = ""
    at_pause: bool = False
    """Asked at the first silent frame (`semantic_vad`): a resume waits for more silence."""


class TurnCore(Protocol):
    """What `TurnTaking` uses of the session core."""

    buffer: InputAudioBuffer
    detector: Detector
    speech_item_id: str | None
    default_response_id: str | None
    responses: dict[str, ActiveResponse]

    @property
    def session(self) -> dict[str, Any]: ...

    def announce_speech(self, audio_start_ms: int, item_id: str) -> list[Output]:
        """`speech_started` for `item_id`, and the interruption it causes."""
        ...

    def end_turn(self, audio_end_ms: int, now: float) -> list[Output]:
        """`speech_stopped`, the commit and the response of a finished user turn."""
        ...

    def response_text(self, response_id: str, delta: str) -> list[Output]: ...

    def response_audio(self, response_id: str, chunk: bytes) -> list[Output]: ...

    def response_tool_call(self, response_id: str, call: LlmToolCall) -> list[Output]: ...

    def response_finished(
        self, response_id: str, now: float, error: str | None = None
    ) -> list[Output]: ...


def detector_for(turn_detection: dict[str, Any], current: Detector | None) -> Detector:
    """The detector `turn_detection` asks for (`current`, reconfigured, when of the same kind)."""
    if turn_detection["type"] == "semantic_vad":
        eagerness = turn_detection.get("eagerness") or "auto"
        if isinstance(current, SemanticTurnDetector):
            current.configure(eagerness)
            return current
        return SemanticTurnDetector(eagerness)
    parameters = vad_parameters(turn_detection)
    if isinstance(current, TurnDetector):
        current.configure(*parameters)
        return current
    return TurnDetector(*parameters)


class TurnTaking:
    """Per-session state of semantic turn ends, false interruptions and echo gating."""

    def __init__(self) -> None:
        self.playout = Playout()
        self.echo_gate: EchoGate | None = None
        """Set while echo suppression is on (the VAD shell zeroes frames it calls echo)."""
        self.arbiter = InterruptionArbiter(InterruptionRules())
        self.paused_response_id: str | None = None
        self.held: list[tuple[str, Any]] = []
        """Reports for the paused response, replayed through the core on resume."""
        self.said: deque[str] = deque(maxlen=MAX_SAID_WORDS)
        """The assistant's latest words (an echo that slipped through repeats them)."""
        self._requests: dict[int, _Request] = {}
        """Open transcript requests by number (only the latest is kept)."""
        self._next_request = 0
        self._last_frame_ms = 0.0
        """End of the last frame of held speech or silence after it."""

    def configure(self, turn_detection: dict[str, Any] | None) -> None:
        """Apply the session's `turn_detection` options."""
        rules = InterruptionRules.from_options(false_interruption_options(turn_detection))
        self.arbiter.rules = rules
        if echo_suppression_enabled(turn_detection):
            if self.echo_gate is None:
                self.echo_gate = EchoGate()
        else:
            self.echo_gate = None

    # ------------------------------------------------------------------ assistant audio

    def holds(self, response_id: str) -> bool:
        """Whether reports for `response_id` are held (the answer is paused)."""
        return self.paused_response_id == response_id

    def hold(self, kind: str, value: Any) -> list[Output]:
        """Keep a paused response's report until it resumes or is cancelled."""
        self.held.append((kind, value))
        return []

    def response_ended(self, response_id: str) -> None:
        """A response ended (done, cancelled or failed): nothing of it is held any more."""
        if self.paused_response_id == response_id:
            self.paused_response_id = None
            self.held.clear()

    def assistant_text(self, delta: str) -> None:
        """Words the assistant is saying (a response's transcript or text delta)."""
        self.said.extend(words_of(delta))

    def sent_audio(self, chunk: bytes, audio_format: AudioFormatName, input_ms: float) -> None:
        """Assistant audio went to the client while the input timeline was at `input_ms`."""
        rate = sample_rate_of(audio_format)
        pcm = chunk if audio_format == "pcm16" else decode_to_pcm16(chunk, audio_format)[0]
        start = self.playout.add(len(pcm) / 2 * 1000 / rate, input_ms)
        if self.echo_gate is not None:
            self.echo_gate.add_reference(pcm, rate, start)

    def playback_cut(self, at_ms: float) -> None:
        """The client stops playing at `at_ms` (an interruption)."""
        self.playout.stop(at_ms)
        if self.echo_gate is not None:
            self.echo_gate.clear_reference_after(at_ms)

    # ------------------------------------------------------------------ detector changes

    def speech_started(
        self, core: TurnCore, change: SpeechStarted, onset_ms: float, item_id: str
    ) -> bool:
        """Hold speech that starts while the assistant's audio plays (True: held, say nothing)."""
        arbiter = self.arbiter
        if not arbiter.rules.enabled or not self.playout.playing(onset_ms):
            logger.debug(
                "speech at %.0f ms, assistant audio plays until %.0f ms: not held",
                onset_ms,
                self.playout.end_ms,
            )
            return False
        response_id = core.default_response_id
        arbiter.hold(change.audio_start_ms, onset_ms, item_id, response_id)
        if response_id is not None:
            self.paused_response_id = response_id
        return True

    def held_frame(self, core: TurnCore, end_ms: float, now: float) -> list[Output]:
        """A frame of held speech: check its words so far once it went on, interrupt once it
        went on too long."""
        self._last_frame_ms = end_ms
        step = self.arbiter.speech(end_ms)
        if step == "interrupt":
            logger.debug("speech over the answer went on too long: interrupt")
            return self._interrupt(core, now)
        if step == "check":
            audio = core.buffer.peek_until(core.buffer.end_ms)
            return [self._request(core, "interruption", end_ms, audio, interim=True)]
        return []

    def held_silence(self, core: TurnCore, end_ms: float) -> list[Output]:
        """A silent frame after held speech: resume once the silence lasted long enough."""
        self._last_frame_ms = end_ms
        if self.arbiter.silence(end_ms):
            logger.debug("silence after the held speech lasted: resume")
            return self._resume(core)
        return []

    def speech_stopped(self, core: TurnCore, change: SpeechStopped) -> list[Output] | None:
        """Held speech ended (server_vad): ask for its words (None: not held, carry on)."""
        if not self.arbiter.holding:
            return None
        audio = core.buffer.peek_until(change.audio_end_ms)
        return [self._request(core, "interruption", change.audio_end_ms, audio)]

    def transcript_wanted(self, core: TurnCore, change: TranscriptWanted) -> list[Output]:
        """The semantic detector paused at `speech_end_ms`: transcribe the speech so far."""
        audio = core.buffer.peek_until(core.buffer.end_ms)
        purpose: Purpose = "interruption" if self.arbiter.holding else "end_of_turn"
        return [self._request(core, purpose, change.speech_end_ms, audio, at_pause=True)]

    def _request(
        self,
        core: TurnCore,
        purpose: Purpose,
        speech_end_ms: float,
        audio: bytes,
        *,
        interim: bool = False,
        second: bool = False,
        first_text: str = "",
        at_pause: bool = False,
    ) -> TranscribeTurn:
        self._next_request += 1
        number = self._next_request
        if purpose == "interruption" and not interim:
            self.arbiter.stopped()
        request = _Request(purpose, speech_end_ms, audio, interim, second, first_text, at_pause)
        self._requests = {number: request}  # only the latest matters
        transcription = core.session["audio"]["input"]["transcription"] or {}
        return TranscribeTurn(
            number,
            purpose,
            self.arbiter.item_id or core.speech_item_id or "",
            audio,
            core.buffer.format,
            transcription.get("language"),
            prompt=BACKCHANNEL_PROMPT if second else None,
            fresh=interim or second,
        )

    def speech_resumed(self) -> None:
        """Held speech went on after a pause: the transcript asked for at the pause is stale
        (a check of the speech so far still stands)."""
        if self.arbiter.awaiting_transcript:
            self.arbiter.resumed_speaking()
        self._requests = {n: r for n, r in self._requests.items() if r.interim}

    # ------------------------------------------------------------------ transcripts

    def transcript(
        self,
        core: TurnCore,
        request: int,
        text: str,
        now: float,
        readings: Sequence[Hypothesis] = (),
    ) -> list[Output]:
        """A requested transcript arrived (with all the recogniser's readings, best first)."""
        entry = self._requests.pop(request, None)
        if entry is None:
            return []
        speech_end_ms = entry.speech_end_ms
        words = entry.first_text if entry.second else text  # what the person said
        heard = () if entry.second else readings  # the prompted second reading is biased
        if entry.purpose == "end_of_turn" or not self.arbiter.holding:
            # a pause's words go to the detector (it waits for them); a check's are stale
            return [] if entry.interim else self._judge(core, speech_end_ms, words, now, heard)
        verdict = judge(text, self.arbiter.rules, list(self.said), going_on=entry.interim)
        logger.debug(
            "%s over the answer heard as %r%s: %s",
            "speech going on" if entry.interim else "speech",
            text,
            " (second opinion)" if entry.second else "",
            verdict,
        )
        if verdict == "unsure" and not entry.second:
            return [
                self._request(
                    core,
                    "interruption",
                    speech_end_ms,
                    entry.audio,
                    interim=entry.interim,
                    second=True,
                    first_text=text,
                    at_pause=entry.at_pause,
                )
            ]
        if entry.interim:
            if verdict == "resume":  # only backchannel so far: hold on
                self.arbiter.checked(speech_end_ms)
                return []
            return self._interrupt(core, now)
        if verdict == "resume":
            if entry.at_pause and self._last_frame_ms - speech_end_ms < RESUME_SILENCE_MS:
                self.arbiter.resume_after_silence(speech_end_ms)  # unless speech goes on
                return []
            return self._resume(core)
        out = self._interrupt(core, now)
        detector = core.detector
        if isinstance(detector, SemanticTurnDetector):
            out += self._judge(core, speech_end_ms, words, now, heard)
        elif not detector.in_speech:  # server_vad already saw the speech end
            out += core.end_turn(int(speech_end_ms), now)
        return out

    def _judge(
        self,
        core: TurnCore,
        speech_end_ms: float,
        text: str,
        now: float,
        readings: Sequence[Hypothesis] = (),
    ) -> list[Output]:
        """Let the semantic detector judge the words (the turn may end at once)."""
        detector = core.detector
        if isinstance(detector, SemanticTurnDetector):
            stopped = detector.transcript(speech_end_ms, text, readings)
            if stopped is not None:
                return core.end_turn(stopped.audio_end_ms, now)
        return []

    # ------------------------------------------------------------------ decisions

    def _interrupt(self, core: TurnCore, now: float) -> list[Output]:
        """The held speech is a real turn: say so (late) and cancel the answer."""
        arbiter = self.arbiter
        item_id = arbiter.item_id or ""
        audio_start_ms = arbiter.audio_start_ms
        self.paused_response_id = None
        self.held.clear()
        arbiter.release()
        self._requests = {n: r for n, r in self._requests.items() if not r.interim}
        self.playback_cut(arbiter.onset_ms)
        return core.announce_speech(audio_start_ms, item_id)

    def _resume(self, core: TurnCore) -> list[Output]:
        """The held speech was a backchannel or a noise: drop it, let the answer go on."""
        self.arbiter.release()
        self._requests.clear()
        detector = core.detector
        detector.reset()
        core.speech_item_id = None
        buffer = core.buffer
        buffer.take_until(buffer.start_ms, buffer.end_ms)
        response_id, self.paused_response_id = self.paused_response_id, None
        held, self.held = self.held, []
        out: list[Output] = []
        if response_id is None:
            return out
        for kind, value in held:
            if kind == "text":
                out += core.response_text(response_id, value)
            elif kind == "audio":
                out += core.response_audio(response_id, value)
            elif kind == "tool":
                out += core.response_tool_call(response_id, value)
            else:
                now, error = value
                out += core.response_finished(response_id, now, error)
        return out
