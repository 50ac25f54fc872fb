"""The `semantic_vad` turn detector: silence ends a turn only as long as the words allow.

Like `input_audio.TurnDetector`, it turns per-frame speech probabilities into speech start and
stop on the audio timeline, but at the first silent frame after speech it asks for the
transcript of the speech so far (`TranscriptWanted`). Until the transcript is judged, and for
as long as it reads unfinished ("I'd like to set a timer for"), silence does not end the turn;
a finished one ("What's the weather in Paris?") ends it after a short silence, one that ends
on a content word without closing punctuation ("Play some jazz music") after a slightly longer
one, and one the recogniser also read unfinished ("to begin?" / "to be in") only after the
unsure silence. Eagerness sets the silences, and the maximum wait always ends a turn. The
committed item keeps `COMMIT_TAIL_MS` of trailing silence whatever the wait was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engines.base import Hypothesis
from ..input_audio import SpeechStarted, SpeechStopped
from .completion import LIKELY_COMPLETE, turn_completion

COMMIT_TAIL_MS = 200
"""Trailing silence committed with a turn (the detector's `silence_duration_ms`)."""
FINISHED = 0.9
"""Completion probability at and above which the short silence ends a turn."""
LIKELY = LIKELY_COMPLETE
"""Completion probability at and above which the likely silence ends a turn (words that end
on a content word the recogniser did not punctuate: "Play some jazz music")."""
UNSURE = 0.5
"""Completion probability at and above which the middle silence ends a turn (below it: the
maximum wait)."""


@dataclass(frozen=True, slots=True)
class Eagerness:
    """Silences (ms after the last speech) that end a turn, by how finished the words read."""

    finished_ms: int
    likely_ms: int
    unsure_ms: int
    max_wait_ms: int


EAGERNESS = {
    "high": Eagerness(finished_ms=200, likely_ms=300, unsure_ms=500, max_wait_ms=2000),
    "medium": Eagerness(finished_ms=250, likely_ms=400, unsure_ms=900, max_wait_ms=4000),
    "auto": Eagerness(finished_ms=250, likely_ms=400, unsure_ms=900, max_wait_ms=4000),
    "low": Eagerness(finished_ms=500, likely_ms=800, unsure_ms=1800, max_wait_ms=8000),
}
"""By `eagerness`; the maximum waits are OpenAI's (8 s / 4 s / 2 s for low / medium / high)."""


@dataclass(frozen=True, slots=True)
class TranscriptWanted:
    """Speech paused at `speech_end_ms`: transcribe the speech item so far and report it with
    `SemanticTurnDetector.transcript` (the turn cannot end early without it)."""

    speech_end_ms: float


class SemanticTurnDetector:
    """Speech start and stop from speech probabilities and the transcript at each pause."""

    def __init__(self, eagerness: str = "auto", threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = 300
        self.silence_duration_ms = COMMIT_TAIL_MS
        self.eagerness = EAGERNESS[eagerness]
        self.in_speech = False
        self.speech_start_ms = 0
        self._last_speech_end_ms = 0.0
        self._last_frame_end_ms = 0.0
        self._asked_for_ms: float | None = None
        """The speech end whose transcript was asked for (None: not asked in this pause)."""
        self._required_ms: float | None = None
        """Silence that ends this pause's turn, once its transcript was judged."""
        self.last_probability: float | None = None
        """The completion probability of the last judged transcript (for logs and benchmarks)."""

    def configure(self, eagerness: str) -> None:
        """A new eagerness; the current state is kept."""
        self.eagerness = EAGERNESS[eagerness]
        self._required_ms = (
            None if self._required_ms is None else self._required(self.last_probability)
        )

    @property
    def last_speech_end_ms(self) -> float:
        """End of the last frame at or above the threshold."""
        return self._last_speech_end_ms

    def reset(self) -> None:
        """Back to silence (after a manual commit or clear)."""
        self.in_speech = False
        self._asked_for_ms = None
        self._required_ms = None

    def transcript(
        self, speech_end_ms: float, text: str, readings: Sequence[Hypothesis] = ()
    ) -> SpeechStopped | None:
        """The transcript of the speech up to `speech_end_ms` (ignored if speech resumed since)
        and the recogniser's readings of it, best first, if it gave them (`turn_completion`);
        the turn ends at once if the silence seen so far is already long enough for it."""
        if not self.in_speech or speech_end_ms != self._last_speech_end_ms:
            return None
        self.last_probability = turn_completion(text, readings)
        self._required_ms = self._required(self.last_probability)
        if self._last_frame_end_ms - self._last_speech_end_ms >= self._required_ms:
            return self._stop()
        return None

    def _stop(self) -> SpeechStopped:
        self.in_speech = False
        self._asked_for_ms = None
        self._required_ms = None
        return SpeechStopped(int(self._last_speech_end_ms + self.silence_duration_ms))

    def silence_for(self, probability: float | None) -> float:
        """The silence (ms) that ends a turn whose words have this completion probability."""
        return self._required(probability)

    def _required(self, probability: float | None) -> float:
        eagerness = self.eagerness
        if probability is None:
            return eagerness.unsure_ms
        if probability >= FINISHED:
            return eagerness.finished_ms
        if probability >= LIKELY:
            return eagerness.likely_ms
        if probability >= UNSURE:
            return eagerness.unsure_ms
        return eagerness.max_wait_ms

    def frame(
        self, start_ms: float, end_ms: float, probability: float
    ) -> SpeechStarted | SpeechStopped | TranscriptWanted | None:
        """Feed one frame's speech probability; report a state change or a request, if any."""
        self._last_frame_end_ms = end_ms
        if probability >= self.threshold:
            self._last_speech_end_ms = end_ms
            self._asked_for_ms = None
            self._required_ms = None
            if not self.in_speech:
                self.in_speech = True
                self.speech_start_ms = max(0, int(start_ms - self.prefix_padding_ms))
                return SpeechStarted(self.speech_start_ms)
            return None
        if not self.in_speech:
            return None
        silence = end_ms - self._last_speech_end_ms
        required = self._required_ms
        if silence >= self.eagerness.max_wait_ms or (required is not None and silence >= required):
            return self._stop()
        if self._asked_for_ms is None:
            self._asked_for_ms = self._last_speech_end_ms
            return TranscriptWanted(self._last_speech_end_ms)
        return None
