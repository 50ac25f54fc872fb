"""Where the assistant's audio plays on the input audio timeline.

The server sends audio faster than real time; the client plays it in order, starting when it
arrives. So each chunk starts playing at the later of the end of the previous chunk and the
input position at which it was sent (input audio arrives in real time, so the input timeline
stands in for the client's clock). Both the echo gate and the interruption rules use this.
"""

from __future__ import annotations


class Playout:
    """The assistant audio's playing interval on the input timeline (milliseconds)."""

    def __init__(self) -> None:
        self.end_ms = 0.0
        """When the audio sent so far finishes playing."""

    def add(self, duration_ms: float, sent_at_ms: float) -> float:
        """A chunk of `duration_ms` sent when the input timeline was at `sent_at_ms`; returns
        where it starts playing."""
        start = max(self.end_ms, sent_at_ms)
        self.end_ms = start + duration_ms
        return start

    def playing(self, at_ms: float) -> bool:
        """Whether assistant audio is still playing at `at_ms`."""
        return at_ms < self.end_ms

    def stop(self, at_ms: float) -> None:
        """Playback was cut at `at_ms` (an interruption): nothing plays after it."""
        self.end_ms = min(self.end_ms, at_ms)
