"""The embedded audio engines run for real: whisper, piper and silero on short audio."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from realtime_agents.audio import pcm16_to_float32, resample_pcm16
from realtime_agents.server.engines.base import EngineSet, Float32Array
from realtime_agents.server.engines.whisper import collapse_repeats

QuestionLoader = Callable[..., Float32Array]


def _words(text: str) -> set[str]:
    return {w.strip(".,?!'\"").lower() for w in text.replace("'s", " is").split()}


@pytest.mark.parametrize(
    ("name", "key_words"),
    [("weather", {"weather", "paris"}), ("capital", {"capital", "france"})],
)
def test_whisper_transcribes_the_bundled_question(
    embedded: EngineSet, question: QuestionLoader, name: str, key_words: set[str]
) -> None:
    text = embedded.stt.transcribe(question(name, embedded.stt.sample_rate))
    assert key_words <= _words(text), text


def test_whisper_returns_nothing_for_silence(embedded: EngineSet) -> None:
    silence = np.zeros(embedded.stt.sample_rate, dtype=np.float32)
    assert embedded.stt.transcribe(silence) == ""
    assert embedded.stt.transcribe(silence[:100]) == ""


def test_whisper_full_window_also_transcribes(question: QuestionLoader) -> None:
    from realtime_agents.server.engines.whisper import WhisperSpeechToText

    full = WhisperSpeechToText(short_window=False)
    text = full.transcribe(question("capital"))
    assert {"capital", "france"} <= _words(text), text


def test_collapse_repeats_keeps_one_copy_of_a_looped_phrase() -> None:
    assert collapse_repeats("Stop. Stop. Stop. Stop") == "Stop."
    assert collapse_repeats("Yes, please. Yes, please. Yes") == "Yes, please."
    looped = "What's the weather in Paris? What's the weather in"
    assert collapse_repeats(looped) == "What's the weather in Paris?"
    assert collapse_repeats("Paris? What's") == "Paris? What's"
    assert collapse_repeats("What is the weather in Paris?") == "What is the weather in Paris?"
    assert collapse_repeats("") == ""


def _speak(embedded: EngineSet, text: str, speed: float = 1.0) -> list[bytes]:
    return list(embedded.tts.synthesize(text, voice=None, speed=speed, cancel=threading.Event()))


def test_piper_speech_has_the_duration_and_level_of_speech(embedded: EngineSet) -> None:
    chunks = _speak(embedded, "Hello! The capital of France is Paris.")
    assert len(chunks) == 2  # one chunk per sentence
    audio = pcm16_to_float32(b"".join(chunks))
    seconds = audio.size / embedded.tts.sample_rate
    rms = float(np.sqrt(np.mean(audio**2)))
    assert embedded.tts.sample_rate == 22_050
    assert 0.5 <= seconds <= 5.0, seconds
    assert 0.02 <= rms <= 0.5, rms
    assert float(np.max(np.abs(audio))) < 0.99  # headroom, no clipping


def test_piper_speed_shortens_the_audio(embedded: EngineSet) -> None:
    normal = sum(len(c) for c in _speak(embedded, "The capital of France is Paris."))
    fast = sum(len(c) for c in _speak(embedded, "The capital of France is Paris.", speed=1.5))
    assert fast < normal * 0.8


def test_piper_stops_after_cancel(embedded: EngineSet) -> None:
    cancel = threading.Event()
    stream = embedded.tts.synthesize("One. Two. Three. Four.", voice=None, speed=1.0, cancel=cancel)
    first = next(iter(stream))
    assert first
    cancel.set()
    assert list(stream) == []
    assert _speak(embedded, "   ") == []


def _frames(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size - size + 1, size)]


def test_silero_separates_speech_from_silence(
    embedded: EngineSet, question: QuestionLoader
) -> None:
    detector = embedded.vad.create_detector()
    assert (detector.sample_rate, detector.frame_samples) == (16_000, 512)
    speech = question("capital", detector.sample_rate)
    voiced = np.nonzero(np.abs(speech) > 0.05)[0]
    speech = speech[voiced[0] : voiced[-1]]
    speech_probs = [detector.speech_probability(f) for f in _frames(speech, 512)]
    detector.reset()
    silence = np.random.default_rng(0).normal(0, 0.002, 16_000).astype(np.float32)
    silence_probs = [detector.speech_probability(f) for f in _frames(silence, 512)]
    assert float(np.median(speech_probs)) > 0.7, speech_probs
    assert max(silence_probs) < 0.2, silence_probs


def test_silero_detectors_are_independent_and_check_frame_size(
    embedded: EngineSet, question: QuestionLoader
) -> None:
    first = embedded.vad.create_detector()
    second = embedded.vad.create_detector()
    speech = question("weather", 16_000)
    voiced = np.nonzero(np.abs(speech) > 0.05)[0]
    frames = _frames(speech[voiced[0] :], 512)[:10]
    for frame in frames:
        first.speech_probability(frame)
    silent = np.zeros(512, dtype=np.float32)
    assert second.speech_probability(silent) < 0.2
    with pytest.raises(ValueError, match="512"):
        first.speech_probability(np.zeros(480, dtype=np.float32))


def test_piper_output_resamples_to_realtime_rate(embedded: EngineSet) -> None:
    pcm = b"".join(_speak(embedded, "Paris."))
    resampled = resample_pcm16(pcm, embedded.tts.sample_rate, 24_000)
    ratio = len(resampled) / len(pcm)
    assert abs(ratio - 24_000 / 22_050) < 0.01


@pytest.mark.parametrize("rate", [8_000, 24_000, 48_000])
def test_silero_at_the_input_rate_agrees_with_16k(
    embedded: EngineSet, question: QuestionLoader, rate: int
) -> None:
    from realtime_agents.server.engines.silero import RateDetector, SileroDetector

    reference = embedded.vad.create_detector()
    assert isinstance(reference, SileroDetector)
    direct = embedded.vad.create_detector()
    assert isinstance(direct, SileroDetector)
    fast = direct.at_rate(rate)
    assert isinstance(fast, RateDetector)
    assert (fast.sample_rate, fast.frame_samples) == (rate, rate * 32 // 1000)
    silence = np.zeros(16_000 // 2, dtype=np.float32)
    audio = np.concatenate([silence, question("capital", 16_000), silence])
    at_rate = pcm16_to_float32(
        resample_pcm16((audio * 32767).astype("<i2").tobytes(), 16_000, rate)
    )
    expected = [reference.speech_probability(f) >= 0.5 for f in _frames(audio, 512)]
    pcm = (at_rate * 32768).astype(np.int16)
    got = [fast.pcm16_probability(f) >= 0.5 for f in _frames(pcm, fast.frame_samples)]
    count = min(len(expected), len(got))
    agreement = np.mean([expected[i] == got[i] for i in range(count)])
    assert sum(expected) > 20 and agreement > 0.9, (agreement, expected, got)
    with pytest.raises(ValueError, match=str(fast.frame_samples)):
        fast.speech_probability(np.zeros(100, dtype=np.float32))


def test_silero_has_no_fast_path_for_odd_rates(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.silero import SileroDetector

    detector = embedded.vad.create_detector()
    assert isinstance(detector, SileroDetector)
    assert detector.at_rate(44_100) is None
    assert detector.at_rate(22_050) is None


def test_whisper_hypotheses_start_with_the_transcript_and_differ(
    embedded: EngineSet, question: QuestionLoader
) -> None:
    from realtime_agents.server.engines.base import HypothesesSpeechToText

    stt = embedded.stt
    assert isinstance(stt, HypothesesSpeechToText)
    audio = question("weather", stt.sample_rate)
    found = stt.transcribe_hypotheses(audio, count=4)
    assert 1 <= len(found) <= 4
    assert {"weather", "paris"} <= _words(found[0].text), found
    assert len({reading.text for reading in found}) == len(found)  # no reading twice
    scores = [reading.score for reading in found]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert stt.transcribe_hypotheses(np.zeros(stt.sample_rate, dtype=np.float32))[0].text == ""


def test_restarts_spots_a_decoder_that_started_over() -> None:
    from realtime_agents.server.engines.whisper import restarts

    assert restarts("What's the weather in Paris? What's the weather in Paris? What")
    assert restarts("Tell me a joke Tell me a joke")
    assert not restarts("What's the weather going to be in")
    assert not restarts("Play it again, play it")  # the opening three words never return
    assert not restarts("")
