"""Audio formats, G.711 codecs, resampling and WAV helpers for realtime sessions."""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal

from .errors import RealtimeAgentsError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from numpy.typing import NDArray

# numpy and soxr are imported inside the functions that need them: importing this module (which
# every client does through settings and the providers) must not pay ~16 MiB of RSS for them.

__all__ = [
    "G711_SAMPLE_RATE",
    "PCM16_SAMPLE_RATE",
    "AudioFormatError",
    "AudioFormatName",
    "StreamingResampler",
    "alaw_decode",
    "alaw_encode",
    "bytes_for_ms",
    "bytes_per_second",
    "decode_to_pcm16",
    "duration_ms",
    "float32_to_pcm16",
    "ga_audio_format",
    "normalize_audio_format",
    "pcm16_to_float32",
    "pcm16_to_format",
    "read_wav",
    "resample_pcm16",
    "sample_rate_of",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]

AudioFormatName = Literal["pcm16", "g711_ulaw", "g711_alaw"]

PCM16_SAMPLE_RATE: Final = 24_000
G711_SAMPLE_RATE: Final = 8_000

_RESAMPLE_QUALITY: Final = "HQ"

_ALIASES: Final[dict[str, AudioFormatName]] = {
    "pcm16": "pcm16",
    "pcm": "pcm16",
    "audio/pcm": "pcm16",
    "g711_ulaw": "g711_ulaw",
    "pcmu": "g711_ulaw",
    "audio/pcmu": "g711_ulaw",
    "g711_alaw": "g711_alaw",
    "pcma": "g711_alaw",
    "audio/pcma": "g711_alaw",
}

_ACCEPTED: Final = (
    "'pcm16' (or 'pcm', 'audio/pcm', {'type': 'audio/pcm', 'rate': 24000}), "
    "'g711_ulaw' (or 'pcmu', 'audio/pcmu', {'type': 'audio/pcmu'}), "
    "'g711_alaw' (or 'pcma', 'audio/pcma', {'type': 'audio/pcma'})"
)


class AudioFormatError(RealtimeAgentsError, ValueError):
    """Audio data or an audio format specification is invalid."""


# --------------------------------------------------------------------------- formats


def _lookup_name(value: object, original: object) -> AudioFormatName:
    """Map one string spelling to its canonical format name."""
    if isinstance(value, str):
        name = _ALIASES.get(value.strip().lower())
        if name is not None:
            return name
    raise AudioFormatError(f"Unsupported audio format {original!r}; use one of {_ACCEPTED}.")


def _check_rate(name: AudioFormatName, rate: object, original: object) -> None:
    """Reject a rate that does not match the format's fixed sample rate."""
    if rate is None:
        return
    expected = sample_rate_of(name)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate != expected:
        raise AudioFormatError(
            f"Unsupported sample rate {rate!r} in audio format {original!r}: "
            f"{name} audio must be {expected} Hz; omit 'rate' or set it to {expected} "
            "(resample the audio with resample_pcm16 first)."
        )


def normalize_audio_format(value: object) -> AudioFormatName:
    """Return the canonical format name for any accepted format spelling."""
    if isinstance(value, str):
        return _lookup_name(value, value)
    if isinstance(value, Mapping):
        name = _lookup_name(value.get("type"), value)
        _check_rate(name, value.get("rate"), value)
        return name
    type_attr = getattr(value, "type", None)
    if isinstance(type_attr, str):
        name = _lookup_name(type_attr, value)
        _check_rate(name, getattr(value, "rate", None), value)
        return name
    raise AudioFormatError(f"Unsupported audio format {value!r}; use one of {_ACCEPTED}.")


def ga_audio_format(name: AudioFormatName) -> dict[str, object]:
    """Return the GA Realtime API format object for a canonical format name."""
    name = normalize_audio_format(name)
    if name == "pcm16":
        return {"type": "audio/pcm", "rate": PCM16_SAMPLE_RATE}
    if name == "g711_ulaw":
        return {"type": "audio/pcmu"}
    return {"type": "audio/pcma"}


def sample_rate_of(name: AudioFormatName) -> int:
    """Return the sample rate in Hz of a format."""
    name = normalize_audio_format(name)
    return PCM16_SAMPLE_RATE if name == "pcm16" else G711_SAMPLE_RATE


def _bytes_per_sample(name: AudioFormatName) -> int:
    """Return the number of bytes one mono sample occupies in a format."""
    return 2 if normalize_audio_format(name) == "pcm16" else 1


def bytes_per_second(name: AudioFormatName) -> int:
    """Return how many bytes one second of mono audio takes in a format."""
    return sample_rate_of(name) * _bytes_per_sample(name)


def duration_ms(byte_count: int, name: AudioFormatName = "pcm16") -> float:
    """Return the duration in milliseconds of `byte_count` bytes of audio."""
    if byte_count < 0:
        raise ValueError(f"byte_count must be non-negative, got {byte_count}")
    return byte_count * 1000 / bytes_per_second(name)


def bytes_for_ms(ms: float, name: AudioFormatName = "pcm16") -> int:
    """Return the byte count of `ms` milliseconds of audio, rounded down to whole samples."""
    if not math.isfinite(ms) or ms < 0:
        raise ValueError(f"ms must be a finite non-negative number, got {ms!r}")
    exact = ms * sample_rate_of(name) / 1000
    nearest = round(exact)
    # Absorb float rounding so that e.g. bytes_for_ms(duration_ms(n)) == n for whole samples.
    tolerance = 1e-9 + 1e-12 * exact
    samples = nearest if abs(exact - nearest) <= tolerance else math.floor(exact)
    return samples * _bytes_per_sample(name)


# --------------------------------------------------------------------------- PCM16 helpers


def _check_pcm16(pcm16: bytes) -> None:
    """Raise AudioFormatError unless `pcm16` holds whole 16-bit samples."""
    if len(pcm16) % 2:
        raise AudioFormatError(
            f"PCM16 audio must have an even number of bytes, got {len(pcm16)}; "
            "each sample is 2 bytes (16-bit little-endian), so do not split samples."
        )


def _to_int16(pcm16: bytes) -> NDArray[np.int16]:
    """View little-endian PCM16 bytes as a native int16 array."""
    import numpy as np

    _check_pcm16(pcm16)
    return np.frombuffer(pcm16, dtype="<i2").astype(np.int16, copy=False)


def _to_bytes(samples: NDArray[Any]) -> bytes:
    """Serialise int16 samples as little-endian PCM16 bytes."""
    return samples.astype("<i2", copy=False).tobytes()


def pcm16_to_float32(pcm16: bytes) -> NDArray[np.float32]:
    """Convert PCM16 bytes to float32 samples in [-1, 1)."""
    import numpy as np

    return _to_int16(pcm16).astype(np.float32) / np.float32(32768.0)


def float32_to_pcm16(samples: npt.ArrayLike) -> bytes:
    """Convert float samples in [-1, 1] to PCM16 bytes, rounding and clipping."""
    import numpy as np

    arr = np.asarray(samples, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise AudioFormatError("Float audio contains NaN or infinity; clean the samples first.")
    scaled = np.clip(np.rint(arr * 32768.0), -32768, 32767)
    return _to_bytes(scaled.astype(np.int16))


# --------------------------------------------------------------------------- G.711
#
# The encoders follow the ITU-T G.191 reference implementation of G.711 (g711.c): the
# 16-bit input is treated as left-justified 14-bit (mu-law) or 13-bit (A-law) data, and
# negative samples use their one's complement as magnitude. For non-negative input this is
# identical to the classic Sun g711.c (mu-law bias 0x84, clip 32635; A-law XOR 0x55).

_ULAW_BIAS: Final = 0x84
_ULAW_CLIP: Final = 32635
_ULAW_SEG_ENDS: Final = tuple((0x100 << i) - 1 for i in range(8))
_ALAW_SEG_ENDS: Final = tuple((0x10 << i) - 1 for i in range(8))


@cache
def _seg_end(ends: tuple[int, ...]) -> NDArray[np.int32]:
    """Return the segment end table `ends` as an int32 array (built once)."""
    import numpy as np

    return np.array(ends, dtype=np.int32)


@cache
def _ulaw_decode_table() -> NDArray[np.int16]:
    """Build the 256-entry mu-law to PCM16 table (once)."""
    import numpy as np

    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


@cache
def _alaw_decode_table() -> NDArray[np.int16]:
    """Build the 256-entry A-law to PCM16 table (once)."""
    import numpy as np

    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _g711_magnitude(samples: NDArray[np.int16]) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
    """Return (magnitude, is_negative) with one's complement magnitudes for negatives."""
    import numpy as np

    x = samples.astype(np.int32)
    negative = x < 0
    return np.where(negative, ~x, x), negative


def ulaw_encode(pcm16: bytes) -> bytes:
    """Encode PCM16 little-endian bytes as G.711 mu-law."""
    import numpy as np

    mag, negative = _g711_magnitude(_to_int16(pcm16))
    biased = np.minimum(mag, _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(_seg_end(_ULAW_SEG_ENDS), biased).astype(np.int32)
    code = (seg << 4) | ((biased >> (seg + 3)) & 0x0F)
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes to PCM16 little-endian bytes."""
    import numpy as np

    return _to_bytes(_ulaw_decode_table()[np.frombuffer(data, dtype=np.uint8)])


def alaw_encode(pcm16: bytes) -> bytes:
    """Encode PCM16 little-endian bytes as G.711 A-law."""
    import numpy as np

    mag, negative = _g711_magnitude(_to_int16(pcm16))
    mag >>= 4
    seg = np.searchsorted(_seg_end(_ALAW_SEG_ENDS), mag).astype(np.int32)
    code = (seg << 4) | ((mag >> np.maximum(seg - 1, 0)) & 0x0F)
    return (code ^ np.where(negative, 0x55, 0xD5)).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> bytes:
    """Decode G.711 A-law bytes to PCM16 little-endian bytes."""
    import numpy as np

    return _to_bytes(_alaw_decode_table()[np.frombuffer(data, dtype=np.uint8)])


# --------------------------------------------------------------------------- resampling


def _check_rates(from_rate: int, to_rate: int) -> None:
    """Raise ValueError unless both sample rates are positive integers."""
    for label, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"{label} must be a positive integer sample rate, got {rate!r}")


def resample_pcm16(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample mono PCM16 audio with soxr (HQ); the same rate returns the input unchanged."""
    _check_rates(from_rate, to_rate)
    samples = _to_int16(pcm16)
    if from_rate == to_rate or samples.size == 0:
        return pcm16
    import numpy as np
    import soxr

    out = soxr.resample(samples, from_rate, to_rate, quality=_RESAMPLE_QUALITY)
    return _to_bytes(np.asarray(out, dtype=np.int16))


class StreamingResampler:
    """Chunked mono PCM16 resampler that keeps filter state between chunks."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        """Create a resampler from `from_rate` Hz to `to_rate` Hz."""
        _check_rates(from_rate, to_rate)
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._pending = b""
        self._stream: Any = None
        if from_rate != to_rate:
            import soxr

            self._stream = soxr.ResampleStream(
                from_rate, to_rate, 1, dtype="int16", quality=_RESAMPLE_QUALITY
            )

    def process(self, chunk: bytes, last: bool = False) -> bytes:
        """Resample one chunk; pass last=True on the final chunk to flush buffered output."""
        data = self._pending + chunk
        whole = len(data) - len(data) % 2
        self._pending = data[whole:]
        if last and self._pending:
            self._pending = b""
            _check_pcm16(data)  # a dangling half sample at the end of the stream
        samples = _to_int16(data[:whole])
        if self._stream is None:
            return _to_bytes(samples)
        import numpy as np

        out = self._stream.resample_chunk(samples, last=last)
        return _to_bytes(np.asarray(out, dtype=np.int16).ravel())


# --------------------------------------------------------------------------- conversion


def decode_to_pcm16(data: bytes, name: AudioFormatName) -> tuple[bytes, int]:
    """Decode audio in a format to (PCM16 bytes, sample rate); G.711 decodes at 8 kHz."""
    name = normalize_audio_format(name)
    if name == "g711_ulaw":
        return ulaw_decode(data), G711_SAMPLE_RATE
    if name == "g711_alaw":
        return alaw_decode(data), G711_SAMPLE_RATE
    _check_pcm16(data)
    return data, PCM16_SAMPLE_RATE


def pcm16_to_format(pcm16: bytes, sample_rate: int, name: AudioFormatName) -> bytes:
    """Resample PCM16 audio to the format's rate and encode it in that format."""
    name = normalize_audio_format(name)
    resampled = resample_pcm16(pcm16, sample_rate, sample_rate_of(name))
    if name == "g711_ulaw":
        return ulaw_encode(resampled)
    if name == "g711_alaw":
        return alaw_encode(resampled)
    return resampled


# --------------------------------------------------------------------------- WAV files


def read_wav(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV file as mono PCM16 bytes and its sample rate."""
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            width = wav.getsampwidth()
            channels = wav.getnchannels()
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(
            f"Cannot read WAV file {os.fspath(path)!r} ({exc}); it must be an uncompressed "
            "16-bit PCM WAV, so convert it first (e.g. `sox in.wav -b 16 -e signed out.wav`)."
        ) from exc
    if width != 2:
        raise AudioFormatError(
            f"WAV file {os.fspath(path)!r} has {8 * width}-bit samples; only 16-bit PCM is "
            "supported, so convert it first (e.g. `sox in.wav -b 16 out.wav`)."
        )
    if channels == 1:
        return frames, rate
    import numpy as np

    samples = _to_int16(frames).reshape(-1, channels).astype(np.int32)
    mixed = np.floor_divide(samples.sum(axis=1), channels)
    return _to_bytes(mixed.astype(np.int16)), rate


def write_wav(path: str | os.PathLike[str], pcm16: bytes, sample_rate: int) -> None:
    """Write mono PCM16 bytes to a 16-bit WAV file."""
    _check_pcm16(pcm16)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    with wave.open(os.fspath(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm16)
