"""The input audio buffer on the session's audio timeline, and the VAD turn state machine.

Times are milliseconds of input audio since the session started (the cumulative timeline
`audio_start_ms`/`audio_end_ms` refer to), never wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..audio import AudioFormatName, bytes_per_second


class InputAudioBuffer:
    """Uncommitted input audio in the session's input format, placed on the audio timeline."""

    def __init__(self, audio_format: AudioFormatName = "pcm16") -> None:
        self._data = bytearray()
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
        return self.start_ms + len(self._data) / self.bytes_per_ms

    @property
    def duration_ms(self) -> float:
        """Milliseconds buffered."""
        return len(self._data) / self.bytes_per_ms

    def __len__(self) -> int:
        return len(self._data)

    def set_format(self, audio_format: AudioFormatName) -> None:
        """Switch format; buffered audio in the old format is dropped (the timeline continues)."""
        if audio_format != self.format:
            end = self.end_ms
            self._data.clear()
            self.format = audio_format
            self.start_ms = end

    def append(self, data: bytes) -> None:
        """Add audio at the end of the timeline."""
        self._data += data

    def take_all(self) -> bytes:
        """Remove and return everything buffered."""
        data = bytes(self._data)
        self.start_ms = self.end_ms
        self._data.clear()
        return data

    def clear(self) -> None:
        """Drop everything buffered."""
        self.take_all()

    def _offset(self, ms: float) -> int:
        offset = int((ms - self.start_ms) * self.bytes_per_ms)
        offset -= offset % self.sample_bytes
        return max(0, min(len(self._data), offset))

    def take_until(self, start_ms: float, end_ms: float) -> bytes:
        """Return audio between two timeline positions and drop everything before `end_ms`."""
        begin, end = self._offset(start_ms), self._offset(end_ms)
        data = bytes(self._data[begin:end])
        del self._data[:end]
        self.start_ms += end / self.bytes_per_ms
        return data

    def peek_until(self, end_ms: float) -> bytes:
        """The buffered audio before timeline position `end_ms`, left in place."""
        return bytes(self._data[: self._offset(end_ms)])

    def trim_before(self, ms: float) -> None:
        """Forget audio older than `ms` (keeps the buffer bounded while nobody speaks)."""
        cut = self._offset(ms)
        if cut:
            del self._data[:cut]
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
