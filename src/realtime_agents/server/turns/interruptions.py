"""False interruptions: hold the answer on speech, then resume it or let the person interrupt.

While the assistant speaks, speech that starts is first *held*: the answer pauses (no more
audio is sent) and the client hears of no speech yet. Held speech is judged by its words:
no words (a cough, a knock), only backchannel words ("mm-hm", "yeah", "right"), the
assistant's own words coming back, or fewer than `min_interruption_words` other words are not
a turn; an interrupt word ("stop", "wait", "no") or enough other words are.

- Speech that ends within `min_interruption_ms` is transcribed once it ends: not a turn, the
  same answer resumes where it paused and the held audio is dropped; a turn interrupts (the
  deferred `speech_started`, then the usual cancel). `semantic_vad` asks at the first silent
  frame, often a gap between words ("Stop | talking" heard as "top"): there the answer
  resumes only after `RESUME_SILENCE_MS` more of silence, and speech that goes on instead
  stays the same held speech.
- Speech that goes on past `min_interruption_ms` is transcribed so far: a turn interrupts at
  once; otherwise (a long "mm-hm") it stays held and is checked again every
  `RECHECK_MS`, until it ends (then as above) or reaches `max_hold_ms`, where it interrupts
  whatever its words.
- A transcript of a few unclear words (whisper hears a hum as "I make him"), or any words
  but an interrupt word while the speech goes on, gets a second opinion from a
  transcription biased toward backchannels (`BACKCHANNEL_PROMPT`): it is taken for a
  backchannel only when that one hears nothing but backchannel words too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

_BACKCHANNEL_TEXT = """
mm mmm mhm mm-hm mm-hmm hm hmm uh-huh uh huh um uhm ah oh ooh yeah yep yes yup ok okay right sure
alright all got it i see cool nice great good wow really true exactly indeed totally absolutely
gotcha aha ha haha thanks thank you
"""
DEFAULT_BACKCHANNEL_WORDS = frozenset(_BACKCHANNEL_TEXT.split())
"""Words that, alone or together, acknowledge the speaker without taking the turn."""
DEFAULT_MIN_INTERRUPTION_MS = 1000
"""Held speech that goes on this long is transcribed so far (most backchannels end sooner)."""
DEFAULT_MAX_HOLD_MS = 2500
"""Held speech interrupts at this length whatever its words."""
RECHECK_MS = 500
"""Held speech that was only backchannel so far is transcribed again after this much more."""
BACKCHANNEL_PROMPT = "Mm-hm. Uh-huh. Yeah. Right. Okay. Hmm."
"""The prompt of the second-opinion transcription (hums are then spelled as hums)."""
RESUME_SILENCE_MS = 300
"""Silence after held speech judged at its first pause before the answer resumes."""
UNSURE_WORDS = 3
"""A transcript of at most this many other words (and no interrupt word) gets a second opinion."""
_INTERRUPT_TEXT = """
stop wait no nope hold pause cancel enough quiet shut hang hey sorry excuse actually don't
"""
DEFAULT_INTERRUPT_WORDS = frozenset(_INTERRUPT_TEXT.split())
"""Words that interrupt on their own ("Stop.", "Wait!")."""
DEFAULT_MIN_INTERRUPTION_WORDS = 2
"""Other words (not backchannels) short speech needs to interrupt: a single unclear word is
more often a misheard backchannel ("right" heard as "Run.") than a new turn."""


@dataclass(frozen=True, slots=True)
class InterruptionRules:
    """The session's rules (`turn_detection.false_interruption`)."""

    enabled: bool = False
    min_interruption_ms: int = DEFAULT_MIN_INTERRUPTION_MS
    max_hold_ms: int = DEFAULT_MAX_HOLD_MS
    backchannel_words: frozenset[str] = field(default=DEFAULT_BACKCHANNEL_WORDS)
    interrupt_words: frozenset[str] = field(default=DEFAULT_INTERRUPT_WORDS)
    min_interruption_words: int = DEFAULT_MIN_INTERRUPTION_WORDS

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> InterruptionRules:
        """The rules for `options.false_interruption_options(...)` (None: off)."""
        if options is None:
            return cls()
        return cls(
            enabled=True,
            min_interruption_ms=int(options["min_interruption_ms"]),
            max_hold_ms=max(int(options["max_hold_ms"]), int(options["min_interruption_ms"])),
            backchannel_words=frozenset(word.lower() for word in options["backchannel_words"]),
            interrupt_words=frozenset(word.lower() for word in options["interrupt_words"]),
            min_interruption_words=int(options["min_interruption_words"]),
        )


Decision = Literal["interrupt", "resume"]
Verdict = Literal["interrupt", "resume", "unsure"]
_WORD = re.compile(r"[a-z][a-z'-]*")
_HUM = re.compile(r"^(?:[mh]*m[mh]*|u+h+|a+h+|o+h+|e+r+m*)$")
"""Hums and hesitations however the recogniser spells them ("Mmmmm", "hmmm", "uhh")."""
_ECHO_RUN = 3
"""Words of a transcript count as the assistant's echo when they are part of a run of this
many words it said in that order (single words it said may well be the person's)."""


def words_of(transcript: str) -> list[str]:
    """Lower-case words of a transcript."""
    return [w.strip("-'") for w in _WORD.findall(transcript.lower().replace("\u2019", "'"))]


def _acknowledges(word: str, backchannel_words: frozenset[str]) -> bool:
    return word in backchannel_words or bool(_HUM.match(word.replace("-", "")))


def is_backchannel(transcript: str, words: frozenset[str]) -> bool:
    """Whether `transcript` holds no words or only backchannel words (and hums)."""
    return all(_acknowledges(word, words) for word in words_of(transcript))


def _echoed(words: list[str], said: Sequence[str]) -> list[bool]:
    """Which of `words` are the assistant's own words coming back: those in a run of
    `_ECHO_RUN` consecutive words that it said in that order."""
    runs = {tuple(said[i : i + _ECHO_RUN]) for i in range(len(said) - _ECHO_RUN + 1)}
    out = [False] * len(words)
    for i in range(len(words) - _ECHO_RUN + 1):
        if tuple(words[i : i + _ECHO_RUN]) in runs:
            out[i : i + _ECHO_RUN] = [True] * _ECHO_RUN
    return out


def judge(
    transcript: str, rules: InterruptionRules, said: Sequence[str] = (), going_on: bool = False
) -> Verdict:
    """Held speech over the answer: not a turn ("resume"), a turn ("interrupt"), or a few
    unclear words ("unsure": a hum misheard as words, or a short real turn).

    `said`: the words the assistant just said, in order; heard again they are its own echo (a
    frame the echo gate let through), not the person's. `going_on`: the speech goes on (a
    check of it so far), where any words but an interrupt word are unsure: cut off mid-hum,
    whisper can hear a sentence ("I'm out of my chest"), and holding on costs little.
    """
    words = words_of(transcript)
    echoed = _echoed(words, said)
    other = [
        word
        for word, echo in zip(words, echoed, strict=True)
        if not echo and not _acknowledges(word, rules.backchannel_words)
    ]
    if any(word in rules.interrupt_words for word in other):
        return "interrupt"
    if not other or len(other) < rules.min_interruption_words:
        return "resume"
    return "unsure" if going_on or len(other) <= UNSURE_WORDS else "interrupt"


def decide(transcript: str, rules: InterruptionRules, said: Sequence[str] = ()) -> Decision:
    """`judge` with no second opinion: unsure is a turn."""
    return "resume" if judge(transcript, rules, said) == "resume" else "interrupt"


class InterruptionArbiter:
    """The held speech of one moment of overlap; `hold` starts it, a decision ends it."""

    def __init__(self, rules: InterruptionRules) -> None:
        self.rules = rules
        self.holding = False
        """Speech is held (the answer is paused; nothing was said to the client)."""
        self.awaiting_transcript = False
        """The held speech ended; its transcript decides."""
        self.checking = False
        """A transcript of the held speech so far (it goes on) is awaited."""
        self.next_check_ms = 0.0
        """Held length at which the speech so far is transcribed (again)."""
        self.resume_at_ms: float | None = None
        """Not a turn, if the silence lasts until then (judged at the first pause)."""
        self.audio_start_ms = 0
        self.onset_ms = 0.0
        self.item_id: str | None = None
        self.response_id: str | None = None
        """The paused response (None when only the playback of a finished one overlapped)."""

    def hold(
        self, audio_start_ms: int, onset_ms: float, item_id: str, response_id: str | None
    ) -> None:
        """Speech began at `onset_ms` while the assistant spoke."""
        self.holding = True
        self.awaiting_transcript = False
        self.checking = False
        self.resume_at_ms = None
        self.next_check_ms = float(self.rules.min_interruption_ms)
        self.audio_start_ms = audio_start_ms
        self.onset_ms = onset_ms
        self.item_id = item_id
        self.response_id = response_id

    def speech(self, end_ms: float) -> Literal["interrupt", "check"] | None:
        """A frame of the held speech ended at `end_ms`: interrupt at `max_hold_ms`; "check":
        transcribe the speech so far (call `checked` with what it was)."""
        if not self.holding or self.awaiting_transcript:
            return None
        length = end_ms - self.onset_ms
        if length >= self.rules.max_hold_ms:
            return "interrupt"
        if not self.checking and length >= self.next_check_ms:
            self.checking = True
            return "check"
        return None

    def checked(self, end_ms: float) -> None:
        """The speech so far up to `end_ms` was not a turn: hold on, check again later."""
        self.checking = False
        self.next_check_ms = end_ms - self.onset_ms + RECHECK_MS

    def resume_after_silence(self, speech_end_ms: float) -> None:
        """The speech up to `speech_end_ms` was not a turn: resume if the silence lasts."""
        self.resume_at_ms = speech_end_ms + RESUME_SILENCE_MS

    def silence(self, end_ms: float) -> bool:
        """A silent frame ended at `end_ms`: whether the answer resumes now."""
        return self.holding and self.resume_at_ms is not None and end_ms >= self.resume_at_ms

    def resumed_speaking(self) -> None:
        """Speech began again while its transcript was awaited: hold on, the person goes on."""
        self.awaiting_transcript = False
        self.resume_at_ms = None

    def stopped(self) -> None:
        """The held speech ended before interrupting: its transcript decides."""
        self.awaiting_transcript = True
        self.checking = False

    def release(self) -> None:
        """The decision was carried out."""
        self.holding = False
        self.awaiting_transcript = False
        self.checking = False
        self.resume_at_ms = None
        self.item_id = None
        self.response_id = None
