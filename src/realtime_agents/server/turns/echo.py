"""Is this input only the assistant's own voice coming back? An echo gate against the sent audio.

The server knows the audio it sent and where it plays on the input timeline (`playout`).
Speakerphones and phone lines send some of it back: delayed (tens to hundreds of ms),
attenuated and band-limited, that is a linear filter of the reference. For each frame of input
the gate finds the delay that best matches the reference (band-limited cross-correlation over
`max_delay_ms`), then measures how much of the input's power over the last `window_ms` is
explained by the reference through *some* linear filter (the magnitude-squared coherence,
weighted by power, over 200-3600 Hz). Echo alone is explained almost entirely (0.8-1.0 even
through a phone band filter); a person talking over it is not (their voice is unrelated to the
reference), so their frames still count as speech. The shell zeroes the speech probability of
frames the gate calls echo.

The echo path's delay hardly changes, but one window's best correlation can miss it where the
window holds little sound (a word's tail or onset after a pause: a sliver of echo matches some
louder stretch of the reference by chance). So the gate remembers the delay of the last window
that was clearly echo and also tries it, and keeps the better share. A window whose input is
silent (below about -70 dBFS) while the reference plays holds nothing of a person: echo.

Everything runs at 8 kHz; buffers are bounded rings (`reference_ms` of scheduled assistant
audio, a couple of seconds of input).
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from ...audio import resample_pcm16

RATE = 8000
_SEGMENT = 256
"""Coherence segment (32 ms at 8 kHz), hopped by half."""
_LOW_HZ, _HIGH_HZ = 200, 3600
_SILENT_POWER = 1e-7
"""Mean square (of samples in -1..1) below which a window counts as silent (about -70 dBFS)."""
_CLEAR_POWER = 1e-5
"""Mean square of an input window loud enough (about -50 dBFS) for its delay to be remembered."""

Floats = npt.NDArray[np.float64]
Ring = npt.NDArray[np.float64] | npt.NDArray[np.float32]


class EchoGate:
    """Tells frames of input that hold only the assistant's echo from frames with a person in them.

    Thread-safe: the loop adds reference audio while a worker thread analyses input.
    """

    def __init__(
        self,
        *,
        max_delay_ms: int = 400,
        window_ms: int = 256,
        threshold: float = 0.4,
        reference_ms: int = 60_000,
    ) -> None:
        """`threshold`: the share of input power explained by the reference at and above which
        a frame is echo."""
        self.threshold = threshold
        self.max_delay = max_delay_ms * RATE // 1000
        self.margin = 20 * RATE // 1000
        """Negative delays tolerated (resampler latency, a client that plays a little early)."""
        self.window = max(2 * _SEGMENT, window_ms * RATE // 1000)
        self._reference = np.zeros(reference_ms * RATE // 1000, dtype=np.float32)
        self._reference_end = 0
        """Absolute sample index just after the last scheduled reference sample."""
        self._reference_start = 0
        """Absolute index of the oldest reference sample still held."""
        self._input: Ring = np.zeros(4 * (self.window + self.max_delay), dtype=np.float64)
        self._input_end = 0
        self._input_decimator: _Decimator | None = None
        self._input_rate = 0
        self._lock = threading.Lock()
        self._delay: int | None = None
        """The echo delay (8 kHz samples) of the last window that was clearly echo."""
        band = np.fft.rfftfreq(_SEGMENT, 1 / RATE)
        self._band = (band >= _LOW_HZ) & (band <= _HIGH_HZ)
        self._hann = np.hanning(_SEGMENT)

    # ------------------------------------------------------------------ reference

    def add_reference(self, pcm16: bytes, rate: int, start_ms: float) -> None:
        """Assistant audio (PCM16 at `rate`) that starts playing at `start_ms` of input time."""
        samples = _floats(resample_pcm16(pcm16, rate, RATE) if rate != RATE else pcm16)
        start = round(start_ms * RATE / 1000)
        with self._lock:
            ring = self._reference
            size = len(ring)
            if start > self._reference_end:  # a gap: silence, not what a lap ago left there
                _write(ring, self._reference_end, np.zeros(min(start - self._reference_end, size)))
            _write(ring, start, samples[-size:])
            self._reference_end = max(self._reference_end, start + len(samples))
            self._reference_start = max(self._reference_start, self._reference_end - size)

    def clear_reference_after(self, at_ms: float) -> None:
        """Playback was cut at `at_ms`: the reference after it will never play."""
        cut = round(at_ms * RATE / 1000)
        with self._lock:
            if cut < self._reference_end:
                count = min(self._reference_end - cut, len(self._reference))
                _write(self._reference, self._reference_end - count, np.zeros(count))
                self._reference_end = max(cut, self._reference_start)

    # ------------------------------------------------------------------ input

    def add_input(self, pcm16: npt.NDArray[np.int16], rate: int, start_ms: float) -> None:
        """Consecutive input samples (PCM16 at `rate`) starting at `start_ms` of input time."""
        start = round(start_ms * RATE / 1000)
        if rate != self._input_rate or abs(start - self._input_end) > RATE // 50:
            self._input_rate = rate  # a new rate or a gap in the timeline: start afresh
            self._input_decimator = _Decimator(rate)
            self._input[:] = 0.0
        else:
            start = self._input_end
        assert self._input_decimator is not None
        samples = self._input_decimator.process(pcm16.astype(np.float64) / 32768.0)
        _write(self._input, start, samples)
        self._input_end = start + len(samples)

    def active(self, end_ms: float) -> bool:
        """Whether any reference audio plays near the frame ending at `end_ms`."""
        end = round(end_ms * RATE / 1000)
        with self._lock:
            return (
                self._reference_end > end - self.window - self.max_delay
                and self._reference_start < end + self.margin
            )

    def explained(self, end_ms: float) -> float:
        """The share (0..1) of the input power over the window ending at `end_ms` that the
        reference explains; 0 when the reference is silent, 1 when the input is."""
        end = min(round(end_ms * RATE / 1000), self._input_end)
        window, delay, margin = self.window, self.max_delay, self.margin
        x = _read(self._input, end - window, end, self._input_end - len(self._input))
        with self._lock:
            r = _read(
                self._reference,
                end - window - delay,
                end + margin,
                self._reference_start,
                self._reference_end,
            )
        if float(np.mean(r * r)) < _SILENT_POWER:
            return 0.0
        power = float(np.mean(x * x))
        if power < _SILENT_POWER:
            return 1.0  # nothing audible: no person, whatever the reference plays
        shift = self._best_shift(x, r)
        share = self._coherent_share(x, r[shift:][:window])
        remembered = self._delay
        if share < self.threshold and remembered is not None and delay - remembered != shift:
            share = max(share, self._coherent_share(x, r[delay - remembered :][:window]))
        elif share >= self.threshold and power >= _CLEAR_POWER:
            self._delay = delay - shift
        return share

    def is_echo(self, end_ms: float) -> bool:
        """Whether the frame ending at `end_ms` is the assistant's echo and nothing else."""
        return self.active(end_ms) and self.explained(end_ms) >= self.threshold

    # ------------------------------------------------------------------ numerics

    def _best_shift(self, x: Floats, r: Floats) -> int:
        """The offset into `r` whose next `len(x)` samples correlate best with `x` (in band)."""
        size = 1 << int(len(r) + len(x) - 1).bit_length()
        spectrum = np.conj(np.fft.rfft(x, size)) * np.fft.rfft(r, size)
        frequencies = np.fft.rfftfreq(size, 1 / RATE)
        spectrum[(frequencies < _LOW_HZ) | (frequencies > _HIGH_HZ)] = 0
        shifts = len(r) - len(x) + 1
        correlation = np.fft.irfft(spectrum, size)[:shifts]
        energy = np.cumsum(np.concatenate([[0.0], r * r]))
        local = energy[len(x) : len(x) + shifts] - energy[:shifts]
        # a floor keeps near-silent stretches of the reference from winning on a tiny norm
        score = np.abs(correlation) / np.sqrt(local + 0.1 * float(local.max()) + 1e-12)
        return int(np.argmax(score))

    def _coherent_share(self, x: Floats, r: Floats) -> float:
        """Power-weighted magnitude-squared coherence of `x` and `r` in band (Welch)."""
        starts = range(0, len(x) - _SEGMENT + 1, _SEGMENT // 2)
        xs = np.stack([x[s : s + _SEGMENT] for s in starts]) * self._hann
        rs = np.stack([r[s : s + _SEGMENT] for s in starts]) * self._hann
        x_spectra = np.fft.rfft(xs, axis=1)[:, self._band]
        r_spectra = np.fft.rfft(rs, axis=1)[:, self._band]
        cross = np.sum(x_spectra * np.conj(r_spectra), axis=0)
        reference_power = np.sum(np.abs(r_spectra) ** 2, axis=0)
        input_power = float(np.sum(np.abs(x_spectra) ** 2))
        if input_power <= 0:
            return 0.0
        explained = float(np.sum(np.abs(cross) ** 2 / (reference_power + 1e-12)))
        return min(1.0, explained / input_power)


class _Decimator:
    """Low-pass and keep every n-th sample, for rates that are whole multiples of 8 kHz (others
    are interpolated linearly after the same filter); keeps the filter's state between chunks
    and adds no delay beyond the filter's own 1 ms."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.step = rate / RATE
        taps = 2 * (rate // 1000) + 1
        if rate > RATE:
            time = np.arange(taps) - taps // 2
            kernel = np.sinc(2 * 3800 / rate * time) * np.hamming(taps)
            self.kernel: Floats | None = kernel / kernel.sum()
        else:
            self.kernel = None
        self.history = np.zeros(taps - 1)
        self.phase = 0.0
        """Position (in input samples) of the next output sample, relative to this chunk."""

    def process(self, samples: Floats) -> Floats:
        if self.kernel is not None:
            joined = np.concatenate([self.history, samples])
            self.history = joined[len(joined) - len(self.history) :]
            samples = np.convolve(joined, self.kernel, mode="valid")
        if self.step == 1:
            return samples
        positions = np.arange(self.phase, len(samples), self.step)
        self.phase = (
            positions[-1] + self.step - len(samples)
            if len(positions)
            else (self.phase - len(samples))
        )
        if self.step == int(self.step):
            return samples[positions.astype(np.int64)]
        interpolated: Floats = np.interp(positions, np.arange(len(samples)), samples)
        return interpolated


def _floats(pcm16: bytes) -> Floats:
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float64) / 32768.0


def _write(ring: Ring, start: int, samples: Floats) -> None:
    """Write `samples` at absolute index `start` of a ring (the last `len(ring)` win)."""
    size = len(ring)
    if len(samples) > size:
        start += len(samples) - size
        samples = samples[-size:]
    offset = start % size
    first = min(len(samples), size - offset)
    ring[offset : offset + first] = samples[:first]
    ring[: len(samples) - first] = samples[first:]


def _read(ring: Ring, begin: int, end: int, oldest: int, newest: int | None = None) -> Floats:
    """Absolute indices `begin:end` of a ring; zeros outside `oldest:newest`."""
    out = np.zeros(end - begin, dtype=np.float64)
    low = max(begin, oldest)
    high = end if newest is None else min(end, newest)
    if high <= low:
        return out
    size = len(ring)
    indices = np.arange(low, high) % size
    out[low - begin : high - begin] = ring[indices]
    return out
