"""The echo canceller wrapper on synthetic signals: bundled speech, delayed and attenuated."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from talk_helpers import question_path

from realtime_agents.audio import read_wav, resample_pcm16
from realtime_agents.talk.echo import (
    MissingTalkExtraError,
    NoEchoCanceller,
    WebRtcEchoCanceller,
    make_echo_canceller,
)

RATE = 24_000
BLOCK_BYTES = RATE // 50 * 2  # 20 ms


def speech(name: str) -> np.ndarray:
    pcm, rate = read_wav(question_path(name))
    return np.frombuffer(resample_pcm16(pcm, rate, RATE), dtype=np.int16).astype(np.float64)


def echo_of(far: np.ndarray, delay_ms: float, attenuation_db: float) -> np.ndarray:
    delay = round(delay_ms * RATE / 1000)
    delayed = np.concatenate([np.zeros(delay), far])[: far.size]
    return delayed * 10 ** (-attenuation_db / 20)


def as_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16).tobytes()


def run_canceller(
    canceller: WebRtcEchoCanceller | NoEchoCanceller, far: np.ndarray, mic: np.ndarray
) -> np.ndarray:
    """Reference then capture, one 20 ms block at a time, as the talk loop does."""
    far_pcm, mic_pcm = as_pcm(far), as_pcm(mic)
    out = bytearray()
    for start in range(0, len(mic_pcm), BLOCK_BYTES):
        canceller.reference(far_pcm[start : start + BLOCK_BYTES])
        out += canceller.capture(mic_pcm[start : start + BLOCK_BYTES])
    return np.frombuffer(bytes(out), dtype=np.int16).astype(np.float64)


def energy_db(samples: np.ndarray) -> float:
    return 10 * float(np.log10(np.sum(samples**2) + 1.0))


def test_no_echo_canceller_passes_the_microphone_through() -> None:
    canceller = NoEchoCanceller()
    canceller.reference(b"\x01\x02" * 100)
    assert canceller.capture(b"\x05\x00\x07\x00") == b"\x05\x00\x07\x00"


@pytest.mark.parametrize(("delay_ms", "attenuation_db"), [(50, 6), (120, 10), (200, 20)])
def test_cancels_a_delayed_speech_echo_by_at_least_20_db(
    livekit_rtc: object, delay_ms: float, attenuation_db: float
) -> None:
    far = np.concatenate([speech("capital"), speech("weather"), speech("capital")])
    mic = echo_of(far, delay_ms, attenuation_db)
    cleaned = run_canceller(WebRtcEchoCanceller(), far, mic)
    assert cleaned.size == mic.size
    settled = slice(RATE, None)  # after the first second, once the filter has converged
    erle = energy_db(mic[settled]) - energy_db(cleaned[settled])
    assert erle >= 20.0, f"ERLE {erle:.1f} dB"
    off = run_canceller(NoEchoCanceller(), far, mic)
    assert energy_db(mic[settled]) - energy_db(off[settled]) == pytest.approx(0.0, abs=0.01)


def test_keeps_the_persons_speech_when_nothing_plays(livekit_rtc: object) -> None:
    near = np.concatenate([speech("weather"), speech("capital")])
    cleaned = run_canceller(WebRtcEchoCanceller(), np.zeros(near.size), near)
    # The high-pass filter and the 10 ms framing change it a little; cancellation would not.
    assert energy_db(cleaned) > energy_db(near) - 3.0


def test_keeps_the_persons_speech_over_the_assistants_echo(livekit_rtc: object) -> None:
    """Double talk: after the echo has converged, the person speaks while the echo goes on."""
    far = np.concatenate([speech("capital"), speech("capital"), speech("capital")])
    echo = echo_of(far, 100, 10)
    near = np.zeros(far.size)
    person = speech("weather")
    start = far.size - person.size - RATE // 10
    near[start : start + person.size] = person
    cleaned = run_canceller(WebRtcEchoCanceller(), far, echo + near)
    talk = slice(start, start + person.size)
    kept = energy_db(cleaned[talk]) - energy_db(near[talk])
    residual_echo = energy_db(cleaned[: RATE * 2][RATE:]) - energy_db(echo[: RATE * 2][RATE:])
    assert kept > -10.0, f"the person's speech lost {-kept:.1f} dB"
    assert residual_echo < -20.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=12))
def test_capture_returns_as_many_bytes_as_it_was_given(sizes: list[int]) -> None:
    pytest.importorskip("livekit.rtc")
    canceller = WebRtcEchoCanceller()
    for samples in sizes:
        block = bytes(2 * samples)
        canceller.reference(block)
        assert len(canceller.capture(block)) == len(block)


def test_a_missing_livekit_names_the_talk_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "livekit.rtc", None)
    with pytest.raises(MissingTalkExtraError, match=r"pip install 'realtime-agents\[talk\]'"):
        make_echo_canceller(True)
    assert isinstance(make_echo_canceller(False), NoEchoCanceller)
