"""What the scripted engines of the turn-taking tests say and hear."""

from __future__ import annotations

REPLY = (
    "Sure, here is a longer answer. It has several clauses, each one synthesised on its own, "
    "and it keeps going while you listen."
)
BACKCHANNEL = "Mm-hm."
HEAD = "I'd like to set a timer for"
SENTENCE = "I'd like to set a timer for ten minutes."
TRANSCRIPTS = ((0.9, BACKCHANNEL), (1.6, HEAD), (1000.0, SENTENCE))
"""What the scripted speech-to-text hears, by the length of the audio it is given (the
prefix padding of 300 ms included): a short sound is a backchannel, the speech up to the
mid-sentence pause is the unfinished head, anything longer the whole sentence."""
