"""WAV files standing in for the microphone and the speaker (`--input-wav` / `--output-wav`).

The "microphone" plays spoken cues into the session at realtime pace (or `speed` times faster)
and silence between them; the "speaker" is the written output. An optional `EchoPath` mixes what
was played back into the microphone, delayed and attenuated, like open speakers in a room.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from ..audio import read_wav, resample_pcm16, write_wav
from .playback import Playback
from .ports import BLOCK_MS, SAMPLE_RATE, AudioBlock, block_bytes
from .turns import TurnState

MAX_OUTPUT_SECONDS: Final = 3_600
AFTER_REPLY_PAUSE_MS: Final = 500
"""Silence after a reply (or after nothing happened) before the next `after_reply` cue."""
NO_REPLY_WAIT_MS: Final = 20_000
"""An `after_reply` cue starts anyway once nothing has happened for this long."""


@dataclass(frozen=True, slots=True)
class InputCue:
    """Spoken audio (24 kHz PCM16) and when to start it.

    `start`: "now" (at once or right after the previous cue), "after_reply" (once the assistant
    has answered the previous cue and fallen quiet) or "during_reply" (`offset_ms` after the
    assistant's reply became audible: a deliberate barge-in).
    """

    pcm: bytes
    start: Literal["now", "after_reply", "during_reply"] = "after_reply"
    offset_ms: int = 0


@dataclass(frozen=True, slots=True)
class EchoPath:
    """A simulated speaker-to-microphone path."""

    delay_ms: float
    attenuation_db: float

    @classmethod
    def parse(cls, text: str) -> EchoPath:
        """`"120:10"`: 120 ms later, 10 dB quieter."""
        delay, _, attenuation = text.partition(":")
        try:
            path = cls(float(delay), float(attenuation or 0))
        except ValueError:
            raise ValueError(
                f"expected DELAY_MS:ATTENUATION_DB such as 120:10, got {text!r}"
            ) from None
        if path.delay_ms < 0 or path.attenuation_db < 0:
            raise ValueError(f"the echo delay and attenuation cannot be negative, got {text!r}")
        return path


def load_wav_24k(path: str) -> bytes:
    """A 16-bit WAV file as 24 kHz mono PCM16."""
    pcm, rate = read_wav(path)
    return resample_pcm16(pcm, rate, SAMPLE_RATE)


class FileAudioPort:
    """Cues in, played audio out to a WAV; the same blocks a sound card would give."""

    delay_hint_ms = 0

    def __init__(
        self,
        cues: Sequence[InputCue],
        playback: Playback,
        turns: TurnState,
        *,
        output_path: str | None = None,
        speed: float = 1.0,
        echo: EchoPath | None = None,
        block_ms: int = BLOCK_MS,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.description = "files" + (f" at {speed:g}x realtime" if speed != 1 else "")
        self._cues = list(cues)
        self._playback = playback
        self._turns = turns
        self._output_path = output_path
        self._speed = speed
        self._block_ms = block_ms
        self._block_bytes = block_bytes(block_ms)
        self._echo_gain = 0.0 if echo is None else 10 ** (-echo.attenuation_db / 20)
        delay_samples = 0 if echo is None else round(echo.delay_ms * SAMPLE_RATE / 1000)
        self._echo_line = bytearray(delay_samples * 2)
        self._current: bytes = b""
        self._offset = 0
        self._next_cue = 0
        self._replies_before_cue = 0
        self._output = bytearray()
        self._output_limit = MAX_OUTPUT_SECONDS * SAMPLE_RATE * 2
        self._closed = False

    @property
    def input_finished(self) -> bool:
        return self._next_cue >= len(self._cues) and self._offset >= len(self._current)

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        started = time.perf_counter()
        index = 0
        while not self._closed:
            index += 1
            due = started + index * self._block_ms / 1000 / self._speed
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # let the session's events in even when behind
            played = self._playback.read(self._block_bytes)
            if len(self._output) < self._output_limit:
                self._output.extend(played.pcm)
            captured = self._mix_echo(self._next_input(), played.pcm)
            yield AudioBlock(captured, played, time.perf_counter())

    def _next_input(self) -> bytes:
        if self._offset >= len(self._current) and self._cue_due():
            cue = self._cues[self._next_cue]
            self._current, self._offset = cue.pcm, 0
            self._next_cue += 1
        size = self._block_bytes
        chunk = self._current[self._offset : self._offset + size]
        self._offset += len(chunk)
        if chunk and self._offset >= len(self._current):  # this cue just ended
            self._replies_before_cue = self._turns.replies_finished
        return chunk + bytes(size - len(chunk))

    def _cue_due(self) -> bool:
        if self._next_cue >= len(self._cues):
            return False
        cue = self._cues[self._next_cue]
        turns = self._turns
        if cue.start == "now":
            return True
        if cue.start == "during_reply":
            return turns.reply_audible_since_ms is not None and turns.audible_ms() >= cue.offset_ms
        answered = turns.replies_finished > self._replies_before_cue
        quiet = turns.quiet_ms()
        return (answered and quiet >= AFTER_REPLY_PAUSE_MS) or quiet >= NO_REPLY_WAIT_MS

    def _mix_echo(self, captured: bytes, played: bytes) -> bytes:
        if not self._echo_gain:
            return captured
        self._echo_line.extend(played)
        delayed = np.frombuffer(bytes(self._echo_line[: len(captured)]), dtype=np.int16)
        del self._echo_line[: len(captured)]
        mixed = np.frombuffer(captured, dtype=np.int16) + delayed * self._echo_gain
        return np.clip(np.round(mixed), -32768, 32767).astype(np.int16).tobytes()

    def output(self) -> bytes:
        """Everything the "speaker" played so far."""
        return bytes(self._output)

    async def close(self) -> None:
        """Stop the blocks and write the output WAV (when one was asked for)."""
        already, self._closed = self._closed, True
        if self._output_path is not None and not already:
            await asyncio.to_thread(self._write, self._output_path)

    def _write(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_wav(path, bytes(self._output), SAMPLE_RATE)
