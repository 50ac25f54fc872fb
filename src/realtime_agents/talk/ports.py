"""The audio port interface: a microphone and a speaker that tick together in fixed blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final, Protocol

from .playback import PlayedBlock

SAMPLE_RATE: Final = 24_000
BLOCK_MS: Final = 20


def block_bytes(block_ms: int = BLOCK_MS, sample_rate: int = SAMPLE_RATE) -> int:
    """PCM16 mono bytes in one block."""
    return sample_rate * block_ms // 1000 * 2


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """One block of time: what the microphone captured and what the speaker played meanwhile."""

    captured: bytes
    played: PlayedBlock
    wall_time: float
    """`time.perf_counter()` when the block was complete."""


class AudioPort(Protocol):
    """A duplex audio device (or a pair of files standing in for one)."""

    description: str
    delay_hint_ms: int
    """Expected time from a played block to its echo in the microphone (the AEC's hint)."""

    @property
    def input_finished(self) -> bool:
        """No more input will come (a file ran out); a microphone never finishes."""

    def blocks(self) -> AsyncIterator[AudioBlock]:
        """Blocks in order, at the device's pace, until `close`."""

    async def close(self) -> None:
        """Stop the device (or write the output file)."""
