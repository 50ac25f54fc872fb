"""The input audio buffer on the session's audio timeline, and the VAD turn state machine.

Times are milliseconds of input audio since the session started (the cumulative timeline
`audio_start_ms`/`audio_end_ms` refer to), never wall-clock time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..audio import AudioFormatName, bytes_per_second

_MIN_CHUNK = 1024
"""Appends smaller than this are joined to a small last chunk (bounds the per-chunk overhead
when a client sends tiny appends)."""


class InputAudioBuffer:
    """Uncommitted input audio in the session's input format, placed on the audio timeline.

    The audio is kept as the appended chunks (no copy per append, and trimming the front drops
    whole chunks); it is joined only when taken or peeked at.
    """

    def __init__(self, audio_format: AudioFormatName = "pcm16") -> None:
        self._chunks: deque[bytes] = deque()
        self._skip = 0
        """Bytes at the front of the first chunk that are no longer buffered."""
        self._size = 0
        self.start_ms = 0.0
        """Timeline position of the first buffered byte."""
        self.format = audio_format

    @property
    def format(self) -> AudioFormatName:
        """The buffer's audio format (setting it directly keeps the data; see `set_format`)."""
        return self._format

    @format.setter
    def format(self, audio_format: AudioFormatName) -> None:
        self._format: AudioFormatName = audio_format
        self.bytes_per_ms = bytes_per_second(audio_format) / 1000
        """Bytes per millisecond in the current format (cached per format)."""
        self.sample_bytes = 2 if audio_format == "pcm16" else 1
        """Bytes per sample in the current format."""

    @property
    def end_ms(self) -> float:
        """Timeline position just after the last buffered byte (all audio appended so far)."""
        return self.start_ms + self._size / self.bytes_per_ms

    @property
    def duration_ms(self) -> float:
        """Milliseconds buffered."""
        return self._size / self.bytes_per_ms

    def __len__(self) -> int:
        return self._size

    def set_format(self, audio_format: AudioFormatName) -> None:
        """Switch format; buffered audio in the old format is dropped (the timeline continues)."""
        if audio_format != self.format:
            end = self.end_ms
            self._reset()
            self.format = audio_format
            self.start_ms = end

    def append(self, data: bytes) -> None:
        """Add audio at the end of the timeline."""
        size = len(data)
        if not size:
            return
        chunks = self._chunks
        if size < _MIN_CHUNK and chunks and len(chunks[-1]) < _MIN_CHUNK:
            chunks[-1] += data
        else:
            chunks.append(bytes(data))
        self._size += size

    def take_all(self) -> bytes:
        """Remove and return everything buffered."""
        data = self._slice(0, self._size)
        self.start_ms = self.end_ms
        self._reset()
        return data

    def clear(self) -> None:
        """Drop everything buffered."""
        self.take_all()

    def _reset(self) -> None:
        self._chunks.clear()
        self._skip = 0
        self._size = 0

    def _offset(self, ms: float) -> int:
        offset = int((ms - self.start_ms) * self.bytes_per_ms)
        offset -= offset % self.sample_bytes
        return max(0, min(self._size, offset))

    def _slice(self, begin: int, end: int) -> bytes:
        """Buffered bytes `begin:end` (offsets into the buffered audio)."""
        if begin >= end:
            return b""
        begin += self._skip
        end += self._skip
        parts: list[memoryview] = []
        position = 0
        for chunk in self._chunks:
            after = position + len(chunk)
            if after > begin:
                parts.append(memoryview(chunk)[max(0, begin - position) : end - position])
            if after >= end:
                break
            position = after
        return b"".join(parts)

    def _drop(self, count: int) -> None:
        """Forget the first `count` buffered bytes."""
        self._size -= count
        chunks = self._chunks
        count += self._skip
        while chunks and count >= len(chunks[0]):
            count -= len(chunks.popleft())
        self._skip = count if chunks else 0

    def take_until(self, start_ms: float, end_ms: float) -> bytes:
        """Return audio between two timeline positions and drop everything before `end_ms`."""
        begin, end = self._offset(start_ms), self._offset(end_ms)
        data = self._slice(begin, end)
        self._drop(end)
        self.start_ms += end / self.bytes_per_ms
        return data

    def peek_until(self, end_ms: float) -> bytes:
        """The buffered audio before timeline position `end_ms`, left in place."""
        return self._slice(0, self._offset(end_ms))

    def trim_before(self, ms: float) -> None:
        """Forget audio older than `ms` (keeps the buffer bounded while nobody speaks)."""
        cut = self._offset(ms)
        if cut:
            self._drop(cut)
            self.start_ms += cut / self.bytes_per_ms


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began; `audio_start_ms` includes the prefix padding."""

    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Speech ended; `audio_end_ms` includes the trailing silence."""

    audio_end_ms: int


class TurnDetector:
    """Turns per-frame speech probabilities into speech start and stop on the audio timeline."""

    def __init__(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.in_speech = False
        self.speech_start_ms = 0
        self._last_speech_end_ms = 0.0

    def configure(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        """New parameters; the current state is kept."""
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms

    @property
    def last_speech_end_ms(self) -> float:
        """End of the last frame at or above the threshold."""
        return self._last_speech_end_ms

    def reset(self) -> None:
        """Back to silence (after a manual commit or clear)."""
        self.in_speech = False

    def frame(
        self, start_ms: float, end_ms: float, probability: float
    ) -> SpeechStarted | SpeechStopped | None:
        """Feed one frame's speech probability; report a state change, if any."""
        if probability >= self.threshold:
            self._last_speech_end_ms = end_ms
            if not self.in_speech:
                self.in_speech = True
                self.speech_start_ms = max(0, int(start_ms - self.prefix_padding_ms))
                return SpeechStarted(self.speech_start_ms)
            return None
        if self.in_speech and end_ms - self._last_speech_end_ms >= self.silence_duration_ms:
            self.in_speech = False
            return SpeechStopped(int(self._last_speech_end_ms + self.silence_duration_ms))
        return None
