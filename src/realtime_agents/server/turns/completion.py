"""How likely a partial transcript is a finished utterance, from its words and punctuation.

A sentence that stops on an article, a preposition, a conjunction, an auxiliary verb, a
possessive or a filler ("set a timer for", "call my mother and", "the weather in") is not
finished, whatever the silence after it; one that ends on a content word, or that the speech
recogniser closed with "?" or ".", most likely is. Cheap (microseconds) and deterministic; the
speech recogniser's partial transcript is its input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..engines.base import Hypothesis

_UNFINISHED_WORDS = """
a an the
for to of in on at by with about from into onto like between than as through over under
after before during without within toward towards around near per via
and or but because so if that when while since although though unless whether nor then
my your his her our their its this these those every each another such whose
um uh er erm hmm uhm
i'd i'm i'll we're we'd they're you're let's wanna gonna
"""
_OPEN_WORDS = """
is are was were am be been being can could would should will shall do does did have has had
might must may i what where how who why which want need very really quite some any
"""
UNFINISHED_ENDINGS = frozenset(_UNFINISHED_WORDS.split())
"""Words after which an English sentence is not finished."""
OPEN_ENDINGS = frozenset(_OPEN_WORDS.split())
"""Words that end a sentence mostly in a question ("How many legs does a spider have?" yes,
"can you tell me what" no, "whatever I can." unsure)."""

COMPLETE = 0.95
"""Probability for a transcript that ends like a finished sentence."""
LIKELY_COMPLETE = 0.7
"""Probability for a transcript that ends on a content word without closing punctuation."""
TRAILING_OFF = 0.2
"""Probability for a transcript the recogniser ended with "..." or a dash."""
UNFINISHED = 0.05
"""Probability for a transcript that ends on a word that cannot end a sentence."""

_WORD = re.compile(r"[a-z0-9][a-z0-9']*")


def completion_probability(transcript: str) -> float | None:
    """The probability that `transcript` is a finished utterance (None: no words to judge)."""
    text = transcript.strip().lower()
    words = _WORD.findall(text.replace("\u2019", "'"))
    if not words:
        return None
    last = words[-1].strip("'")
    if last in UNFINISHED_ENDINGS:
        return UNFINISHED
    if text.endswith(("...", "\u2026", "-", "\u2014", ",")):
        return TRAILING_OFF
    if last in OPEN_ENDINGS:  # "does a spider have?" is a question; "whatever I can." unsure
        return (
            COMPLETE
            if text.endswith("?")
            else LIKELY_COMPLETE
            if text.endswith(".")
            else (UNFINISHED)
        )
    if text.endswith(("?", ".", "!")):
        return COMPLETE
    return LIKELY_COMPLETE


AMBIGUOUS = 0.5
"""Probability for a transcript that reads finished while another likely reading of the same
audio does not ("going to begin?" / "going to be in"): the unsure silence decides."""
MAX_SCORE_GAP = 0.5
"""Readings scored this much below the best (mean log-probability per token) are ignored."""


def turn_completion(text: str, readings: Sequence[Hypothesis] = ()) -> float | None:
    """`completion_probability` of `text`, lowered to `AMBIGUOUS` when another likely reading of
    the same audio is unfinished. `readings`: the recogniser's readings, best first (`text` is
    the first's); those scored more than `MAX_SCORE_GAP` below the first are ignored.

    A small speech recogniser often hears the function word before a pause as a content word
    ("to be in" -> "to begin?", "about" -> "amount.", "the" -> "them."), and the sentence then
    reads finished; its second or third reading usually keeps the function word.
    """
    probability = completion_probability(text)
    if probability is None or probability <= AMBIGUOUS or len(readings) < 2:
        return probability
    best = readings[0].score
    for reading in readings[1:]:
        if best - reading.score > MAX_SCORE_GAP:
            continue
        other = completion_probability(reading.text)
        if other is not None and other < AMBIGUOUS:
            return AMBIGUOUS
    return probability
