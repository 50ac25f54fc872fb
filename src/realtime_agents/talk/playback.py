"""The assistant's audio waiting for the speaker: a bounded, thread-safe queue of PCM16 bytes.

The event loop appends each audio delta with the item it belongs to; the speaker (a PortAudio
callback thread, or the file writer) reads fixed-size blocks and learns which item each played
byte came from, so the session can report exactly what was heard. `flush` drops everything on
barge-in.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_BYTES: Final = 24_000 * 2 * 120
"""Two minutes of 24 kHz PCM16: a reply longer than this waits (back-pressure) for the speaker."""
_ROOM_POLL_SECONDS: Final = 0.02


@dataclass(frozen=True, slots=True)
class PlayedSegment:
    """`size` bytes of one assistant item's audio that left for the speaker."""

    item_id: str
    content_index: int
    size: int


@dataclass(frozen=True, slots=True)
class PlayedBlock:
    """One speaker block: its PCM16 (silence-padded to the block size) and where it came from."""

    pcm: bytes
    segments: tuple[PlayedSegment, ...]

    @property
    def audible_bytes(self) -> int:
        """Bytes of assistant audio in the block (the rest is padding)."""
        return sum(segment.size for segment in self.segments)


class Playback:
    """Assistant audio queued for the speaker, at most `max_bytes` of it."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._chunks: deque[tuple[str, int, bytes]] = deque()
        self._head_offset = 0
        self._queued = 0

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be played."""
        with self._lock:
            return self._queued

    def append(self, item_id: str, content_index: int, pcm: bytes) -> None:
        """Queue audio; call `wait_for_room` first to respect the bound."""
        if not pcm:
            return
        with self._lock:
            self._chunks.append((item_id, content_index, pcm))
            self._queued += len(pcm)

    async def wait_for_room(self) -> None:
        """Wait until the queue is below its bound (the speaker drains it in real time)."""
        # Polled: the speaker drains the queue from PortAudio's thread, not the event loop.
        while self.queued_bytes >= self.max_bytes:  # noqa: ASYNC110
            await asyncio.sleep(_ROOM_POLL_SECONDS)

    def read(self, size: int) -> PlayedBlock:
        """The next `size` bytes for the speaker, padded with silence when the queue runs dry."""
        out = bytearray()
        segments: list[PlayedSegment] = []
        with self._lock:
            while len(out) < size and self._chunks:
                item_id, content_index, pcm = self._chunks[0]
                start = self._head_offset
                take = min(size - len(out), len(pcm) - start)
                out.extend(pcm[start : start + take])
                if segments and (segments[-1].item_id, segments[-1].content_index) == (
                    item_id,
                    content_index,
                ):
                    last = segments.pop()
                    segments.append(PlayedSegment(item_id, content_index, last.size + take))
                else:
                    segments.append(PlayedSegment(item_id, content_index, take))
                self._head_offset += take
                self._queued -= take
                if self._head_offset == len(pcm):
                    self._chunks.popleft()
                    self._head_offset = 0
        if len(out) < size:
            out.extend(bytes(size - len(out)))
        return PlayedBlock(bytes(out), tuple(segments))

    def flush(self) -> int:
        """Drop everything queued (barge-in); returns how many bytes were dropped."""
        with self._lock:
            dropped = self._queued
            self._chunks.clear()
            self._head_offset = 0
            self._queued = 0
        return dropped
