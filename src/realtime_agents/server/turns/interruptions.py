"""False interruptions: hold the answer on speech, then resume it or let the person interrupt.

While the assistant speaks, speech that starts is first *held*: the answer pauses (no more
audio is sent) and the client hears of no speech yet. Speech that goes on for
`min_interruption_ms` interrupts at once (the deferred `speech_started`, then the usual
cancel). Speech that ends sooner is transcribed: no words (a cough, a knock), only
backchannel words ("mm-hm", "yeah", "right") or fewer than `min_interruption_words` other
words resume the same answer where it paused and the held audio is dropped; an interrupt
word ("stop", "wait", "no") or enough other words interrupt.
"""

from __future__ import annotations

import re
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
"""Speech held at most this long before it interrupts (longer than most backchannels)."""
_INTERRUPT_TEXT = """
stop wait no nope hold pause cancel enough quiet shut hang hey sorry excuse actually don't
"""
DEFAULT_INTERRUPT_WORDS = frozenset(_INTERRUPT_TEXT.split())
"""Words that interrupt on their own ("Stop.", "Wait!")."""
DEFAULT_MIN_INTERRUPTION_WORDS = 2
"""Other words (not backchannels) short speech needs to interrupt: a single unclear word is
more often a misheard backchannel ("right" heard as "Run.") than a new turn."""

Decision = Literal["interrupt", "resume"]
_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True, slots=True)
class InterruptionRules:
    """The session's rules (`turn_detection.false_interruption`)."""

    enabled: bool = False
    min_interruption_ms: int = DEFAULT_MIN_INTERRUPTION_MS
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
            backchannel_words=frozenset(word.lower() for word in options["backchannel_words"]),
            interrupt_words=frozenset(word.lower() for word in options["interrupt_words"]),
            min_interruption_words=int(options["min_interruption_words"]),
        )


_HUM = re.compile(r"^(?:[mh]*m[mh]*|u+h+|a+h+|o+h+|e+r+m*)$")
"""Hums and hesitations however the recogniser spells them ("Mmmmm", "hmmm", "uhh")."""


def words_of(transcript: str) -> list[str]:
    """Lower-case words of a transcript."""
    return _words(transcript)


def _words(transcript: str) -> list[str]:
    return [w.strip("-'") for w in _WORD.findall(transcript.lower().replace("\u2019", "'"))]


def _acknowledges(word: str, backchannel_words: frozenset[str]) -> bool:
    return word in backchannel_words or bool(_HUM.match(word.replace("-", "")))


def is_backchannel(transcript: str, words: frozenset[str]) -> bool:
    """Whether `transcript` holds no words or only backchannel words (and hums)."""
    return all(_acknowledges(word, words) for word in _words(transcript))


def decide(
    transcript: str, rules: InterruptionRules, echoed: frozenset[str] = frozenset()
) -> Decision:
    """Short speech over the answer: resume it, or let the person have the turn.

    `echoed`: the words the assistant just said; heard again they are its own echo (a frame
    the echo gate let through), not the person's.
    """
    other = [
        w
        for w in _words(transcript)
        if not _acknowledges(w, rules.backchannel_words) and w not in echoed
    ]
    if any(word in rules.interrupt_words for word in other):
        return "interrupt"
    return "interrupt" if other and len(other) >= rules.min_interruption_words else "resume"


class InterruptionArbiter:
    """The held speech of one moment of overlap; `hold` starts it, a `Decision` ends it."""

    def __init__(self, rules: InterruptionRules) -> None:
        self.rules = rules
        self.holding = False
        """Speech is held (the answer is paused; nothing was said to the client)."""
        self.awaiting_transcript = False
        """The held speech ended; its transcript decides."""
        self.audio_start_ms = 0
        self.onset_ms = 0.0
        self.item_id: str | None = None
        self.response_id: str | None = None
        """The paused response (None when only the playback of a finished one overlapped)."""
        self.request = 0
        """Sequence number of the transcript asked for (late transcripts are ignored)."""

    def hold(
        self, audio_start_ms: int, onset_ms: float, item_id: str, response_id: str | None
    ) -> None:
        """Speech began at `onset_ms` while the assistant spoke."""
        self.holding = True
        self.awaiting_transcript = False
        self.audio_start_ms = audio_start_ms
        self.onset_ms = onset_ms
        self.item_id = item_id
        self.response_id = response_id

    def speech(self, end_ms: float) -> Decision | None:
        """A frame of the held speech ended at `end_ms`: interrupt once it lasted long enough."""
        if (
            self.holding
            and not self.awaiting_transcript
            and end_ms - self.onset_ms >= self.rules.min_interruption_ms
        ):
            return "interrupt"
        return None

    def resumed_speaking(self) -> None:
        """Speech began again while its transcript was awaited: hold on, the person goes on."""
        self.awaiting_transcript = False
        self.request += 1

    def stopped(self) -> int:
        """The held speech ended before interrupting; returns the transcript request number."""
        self.awaiting_transcript = True
        self.request += 1
        return self.request

    def transcript(
        self, request: int, text: str, echoed: frozenset[str] = frozenset()
    ) -> Decision | None:
        """The held speech's transcript (None: stale, or nothing is held)."""
        if not self.awaiting_transcript or request != self.request:
            return None
        return decide(text, self.rules, echoed)

    def release(self) -> None:
        """The decision was carried out."""
        self.holding = False
        self.awaiting_transcript = False
        self.item_id = None
        self.response_id = None
