"""The echo gate on speech-like echo: word onsets and tails, a phone band, a short delay."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_agents.server.turns.echo import EchoGate

RATE = 24_000
FRAME = RATE * 32 // 1000


def syllables(seconds: float, seed: int, gaps: tuple[float, float] = (0.1, 0.45)) -> np.ndarray:
    """Voiced syllables (gliding pitch, harmonics, a sharp attack and a decaying tail) with gaps
    between them: the onsets and tails where little of a window holds sound."""
    generator = np.random.default_rng(seed)
    out = np.zeros(int(RATE * seconds))
    at = int(RATE * 0.05)
    while at < len(out):
        length = int(RATE * generator.uniform(0.12, 0.3))
        time = np.arange(length) / RATE
        pitch = generator.uniform(100, 220) * (1 + generator.uniform(-0.2, 0.2) * time / time[-1])
        phase = 2 * np.pi * np.cumsum(pitch) / RATE
        weights = generator.uniform(0.2, 1.0, 12) / np.arange(1, 13)
        voiced = sum(w * np.sin((k + 1) * phase) for k, w in enumerate(weights))
        envelope = np.minimum(1, time / 0.01) * np.exp(-time * generator.uniform(4, 12))
        piece = voiced * envelope * 9000
        out[at : at + length] += piece[: len(out) - at]
        at += length + int(RATE * generator.uniform(*gaps))
    return out


def phone_band(samples: np.ndarray) -> np.ndarray:
    """A 300-3400 Hz windowed-sinc band-pass (a phone line), its own delay kept (6 ms)."""
    taps = np.arange(301) - 150

    def lowpass(cut: float) -> np.ndarray:
        return 2 * cut / RATE * np.sinc(2 * cut / RATE * taps)

    kernel = (lowpass(3400) - lowpass(300)) * np.hamming(301)
    return np.convolve(samples, kernel, mode="full")[: len(samples)]


def echo_of(reference: np.ndarray, delay_ms: int, level_db: float) -> np.ndarray:
    delayed = np.concatenate([np.zeros(delay_ms * RATE // 1000), reference])[: len(reference)]
    return phone_band(delayed) * 10 ** (level_db / 20)


def frames_called_echo(gate: EchoGate, signal: np.ndarray) -> list[tuple[float, bool]]:
    """(end_ms, echo?) of each 32 ms frame that holds more than a trace of sound."""
    pcm = np.clip(signal, -32768, 32767).astype(np.int16)
    out = []
    for start in range(0, len(pcm) - FRAME + 1, FRAME):
        frame = pcm[start : start + FRAME]
        gate.add_input(frame, RATE, start * 1000 / RATE)
        end_ms = (start + FRAME) * 1000 / RATE
        if np.sqrt(np.mean(frame.astype(np.float64) ** 2)) > 3:  # about -80 dBFS
            out.append((end_ms, gate.is_echo(end_ms)))
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("delay_ms", "level_db"), [(50, -6), (50, -20), (120, -10), (200, -6)])
def test_every_frame_of_a_short_delayed_phone_band_echo_is_echo(
    delay_ms: int, level_db: float, seed: int
) -> None:
    reference = syllables(6.0, seed)
    gate = EchoGate()
    for begin in range(0, len(reference), RATE // 5):  # sent in 200 ms chunks, back to back
        chunk = reference[begin : begin + RATE // 5].astype("<i2").tobytes()
        gate.add_reference(chunk, RATE, begin * 1000 / RATE)
    judged = frames_called_echo(gate, echo_of(reference, delay_ms, level_db))
    missed = [end for end, echo in judged if not echo]
    assert len(judged) > 60
    assert missed == []


@pytest.mark.parametrize("seed", range(4))
def test_a_person_over_a_short_delayed_echo_is_not_echo(seed: int) -> None:
    reference = syllables(6.0, seed, gaps=(0.04, 0.25))
    echo = echo_of(reference, 50, -10)
    person = np.zeros_like(echo)
    voice = syllables(2.5, seed + 11, gaps=(0.04, 0.25))
    person[2 * RATE : 2 * RATE + len(voice)] = voice
    gate = EchoGate()
    gate.add_reference(reference.astype("<i2").tobytes(), RATE, 0.0)
    judged = dict(frames_called_echo(gate, echo + person))

    def loud(signal: np.ndarray, end_ms: float) -> float:
        end = round(end_ms * RATE / 1000)
        return float(np.sqrt(np.mean(signal[end - FRAME : end] ** 2)))

    # the frames where the person is the louder voice, after the first syllable's onset
    spoken = [end for end in judged if end > 2100 and loud(person, end) > 2 * loud(echo, end)]
    assert len(spoken) > 30
    assert sum(judged[end] for end in spoken) <= len(spoken) // 3  # onsets: the echo dominates
