"""What the scripted engines of the turn-taking tests say and hear."""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime_agents.server.engines.base import Float32Array
from realtime_agents.server.engines.scripted import ScriptedStt

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


@dataclass
class HummingStt(ScriptedStt):
    """Hears a hum of up to `hum_seconds` as words, as whisper tiny.en hears a long "mhm"
    ("I make him..."), and as `prompted` when prompted; longer audio as `default`."""

    hum_seconds: float = 2.0
    prompted: str = "Mm-hm."
    prompts: list[str | None] = field(default_factory=list)

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        self.prompts.append(prompt)
        if len(samples) / self.sample_rate > self.hum_seconds:
            return self.default
        return self.prompted if prompt else "I make him..."
