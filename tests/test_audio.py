"""Tests for realtime_agents.audio: formats, G.711, resampling and WAV helpers."""

from __future__ import annotations

import math
import wave
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from realtime_agents.audio import (
    G711_SAMPLE_RATE,
    PCM16_SAMPLE_RATE,
    AudioFormatError,
    AudioFormatName,
    StreamingResampler,
    alaw_decode,
    alaw_encode,
    bytes_for_ms,
    bytes_per_second,
    decode_to_pcm16,
    duration_ms,
    float32_to_pcm16,
    ga_audio_format,
    normalize_audio_format,
    pcm16_to_float32,
    pcm16_to_format,
    read_wav,
    resample_pcm16,
    sample_rate_of,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)

FORMATS: tuple[AudioFormatName, ...] = ("pcm16", "g711_ulaw", "g711_alaw")
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_CODES = bytes(range(256))

Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]
CODECS: dict[str, Codec] = {"ulaw": (ulaw_encode, ulaw_decode), "alaw": (alaw_encode, alaw_decode)}


def pcm(values: object) -> bytes:
    """Pack integer samples as little-endian PCM16 bytes."""
    return np.asarray(values, dtype=np.int64).astype("<i2").tobytes()


def unpack(data: bytes) -> NDArray[np.int64]:
    """Unpack little-endian PCM16 bytes to int64 samples."""
    return np.frombuffer(data, dtype="<i2").astype(np.int64)


def sine(rate: int, freq: float = 440.0, seconds: float = 1.0, amp: float = 0.5) -> bytes:
    """Return a PCM16 sine wave."""
    t = np.arange(round(rate * seconds)) / rate
    return float32_to_pcm16(amp * np.sin(2 * np.pi * freq * t))


def sine_snr_db(samples: NDArray[np.int64], rate: int, freq: float) -> float:
    """Return the SNR of the best-fitting `freq` sine in the middle 80% of the samples."""
    n = len(samples)
    keep = slice(n // 10, n - n // 10)
    t = np.arange(n)[keep] / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    x = samples[keep].astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fit = basis @ coef
    return float(10 * np.log10(np.sum(fit**2) / np.sum((x - fit) ** 2)))


# --------------------------------------------------------------------------- G.711 oracles
# Scalar ports of ITU-T G.191 g711.c (the ITU reference software for G.711) and of the
# classic Sun Microsystems g711.c, used as independent oracles for the vectorised codecs.


def g191_ulaw_compress(x: int) -> int:
    """ITU-T G.191 ulaw_compress for one 16-bit sample."""
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i:
        segno += 1
        i >>= 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    code = (high << 4) | low
    return code | 0x80 if x >= 0 else code


def g191_ulaw_expand(code: int) -> int:
    """ITU-T G.191 ulaw_expand for one code."""
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    mantissa &= 0x0F
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def g191_alaw_compress(x: int) -> int:
    """ITU-T G.191 alaw_compress for one 16-bit sample."""
    ix = (~x) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def g191_alaw_expand(code: int) -> int:
    """ITU-T G.191 alaw_expand for one code."""
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x08
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


SUN_SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)


def sun_search(value: int) -> int:
    """Sun g711.c segment search."""
    for i, end in enumerate(SUN_SEG_END):
        if value <= end:
            return i
    return len(SUN_SEG_END)


def sun_linear2ulaw(x: int) -> int:
    """Classic Sun linear2ulaw (bias 0x84, clip 32635)."""
    mask = 0x7F if x < 0 else 0xFF
    x = min(abs(x), 32635) + 0x84
    seg = sun_search(x)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((x >> (seg + 3)) & 0x0F)) ^ mask


def sun_ulaw2linear(code: int) -> int:
    """Classic Sun ulaw2linear."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def sun_linear2alaw(x: int) -> int:
    """Classic Sun linear2alaw (XOR 0x55, negatives as -x - 8)."""
    if x >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        x = -x - 8
    seg = sun_search(x)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= ((x >> 4) if seg < 2 else (x >> (seg + 3))) & 0x0F
    return (aval ^ mask) & 0xFF


def sun_alaw2linear(code: int) -> int:
    """Classic Sun alaw2linear."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


# --------------------------------------------------------------------------- G.711 values


@pytest.mark.parametrize(
    ("code", "value"),
    [(0x00, -32124), (0x80, 32124), (0xFF, 0), (0x7F, 0), (0xFE, 8), (0x7E, -8), (0xEF, 132)],
)
def test_ulaw_decode_reference_values(code: int, value: int) -> None:
    assert unpack(ulaw_decode(bytes([code]))).tolist() == [value]


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0x2A, -32256), (0xAA, 32256), (0xD4, 24), (0xC5, 264)],
)
def test_alaw_decode_reference_values(code: int, value: int) -> None:
    assert unpack(alaw_decode(bytes([code]))).tolist() == [value]


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        (0, 0xFF),
        (-1, 0x7F),
        (3, 0xFF),
        (4, 0xFE),
        (-4, 0x7F),
        (-5, 0x7E),
        (32767, 0x80),
        (-32768, 0),
    ],
)
def test_ulaw_encode_reference_values(sample: int, code: int) -> None:
    assert ulaw_encode(pcm([sample])) == bytes([code])


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xD5), (-1, 0x55), (15, 0xD5), (16, 0xD4), (-17, 0x54), (32767, 0xAA), (-32768, 0x2A)],
)
def test_alaw_encode_reference_values(sample: int, code: int) -> None:
    assert alaw_encode(pcm([sample])) == bytes([code])


def test_ulaw_matches_itu_g191_for_every_input() -> None:
    assert ulaw_encode(pcm(ALL_INT16)) == bytes(g191_ulaw_compress(int(x)) for x in ALL_INT16)
    assert unpack(ulaw_decode(ALL_CODES)).tolist() == [g191_ulaw_expand(c) for c in ALL_CODES]


def test_alaw_matches_itu_g191_for_every_input() -> None:
    assert alaw_encode(pcm(ALL_INT16)) == bytes(g191_alaw_compress(int(x)) for x in ALL_INT16)
    assert unpack(alaw_decode(ALL_CODES)).tolist() == [g191_alaw_expand(c) for c in ALL_CODES]


def test_decoders_match_sun_reference() -> None:
    assert unpack(ulaw_decode(ALL_CODES)).tolist() == [sun_ulaw2linear(c) for c in ALL_CODES]
    assert unpack(alaw_decode(ALL_CODES)).tolist() == [sun_alaw2linear(c) for c in ALL_CODES]


def test_encoders_match_sun_reference_on_non_negative_input() -> None:
    positive = np.arange(0, 32768)
    assert ulaw_encode(pcm(positive)) == bytes(sun_linear2ulaw(int(x)) for x in positive)
    assert alaw_encode(pcm(positive)) == bytes(sun_linear2alaw(int(x)) for x in positive)


def test_negative_inputs_relate_to_sun_reference_by_a_fixed_offset() -> None:
    # Sun uses |x| (mu-law) and |x| - 8 (A-law) as the magnitude of a negative sample, G.191 the
    # one's complement |x| - 1; on genuinely 13-bit A-law data (multiples of 8) they agree.
    neg = np.arange(-32767, 0)
    assert ulaw_encode(pcm(neg - 1)) == bytes(sun_linear2ulaw(int(x)) for x in neg)
    neg8 = np.arange(-32768, -7)
    assert alaw_encode(pcm(neg8 + 7)) == bytes(sun_linear2alaw(int(x)) for x in neg8)
    thirteen_bit = np.arange(-32768, 32768, 8)
    expected = bytes(sun_linear2alaw(int(x)) for x in thirteen_bit)
    assert alaw_encode(pcm(thirteen_bit)) == expected


def test_audioop_oracle() -> None:
    audioop = pytest.importorskip("audioop")
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
    assert alaw_encode(pcm(ALL_INT16)) == audioop.lin2alaw(pcm(ALL_INT16), 2)
    # audioop truncates negative mu-law input with an arithmetic shift, so only x >= 0 agrees.
    positive = pcm(np.arange(0, 32768))
    assert ulaw_encode(positive) == audioop.lin2ulaw(positive, 2)


@pytest.mark.parametrize("law", sorted(CODECS))
def test_decode_encode_decode_is_stable_for_all_codes(law: str) -> None:
    encode, decode = CODECS[law]
    decoded = decode(ALL_CODES)
    assert decode(encode(decoded)) == decoded


@pytest.mark.parametrize("law", sorted(CODECS))
def test_reconstruction_error_bound_and_monotonicity_for_all_inputs(law: str) -> None:
    encode, decode = CODECS[law]
    out = unpack(decode(encode(pcm(ALL_INT16))))
    assert np.all(np.abs(out - ALL_INT16) <= np.abs(ALL_INT16) / 32 + 8)
    assert np.all(np.diff(out) >= 0)


@pytest.mark.parametrize("law", sorted(CODECS))
@pytest.mark.parametrize("amp", [0.9, 0.3, 0.05, 0.01])
def test_sine_round_trip_snr(law: str, amp: float) -> None:
    encode, decode = CODECS[law]
    original = sine(G711_SAMPLE_RATE, amp=amp)
    x = unpack(original).astype(np.float64)
    y = unpack(decode(encode(original))).astype(np.float64)
    snr = 10 * math.log10(float(np.sum(x**2) / np.sum((x - y) ** 2)))
    assert snr > 30
    assert len(encode(original)) == len(original) // 2


int16_lists = st.lists(st.integers(min_value=-32768, max_value=32767), max_size=300)


@pytest.mark.parametrize("law", sorted(CODECS))
@given(values=int16_lists)
def test_codec_properties(law: str, values: list[int]) -> None:
    encode, decode = CODECS[law]
    oracle = g191_ulaw_compress if law == "ulaw" else g191_alaw_compress
    encoded = encode(pcm(values))
    assert len(encoded) == len(values)
    assert encoded == bytes(oracle(v) for v in values)
    decoded = decode(encoded)
    assert len(decoded) == 2 * len(values)
    assert decode(encode(decoded)) == decoded
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(unpack(decoded)[order]) >= 0)


def test_codecs_handle_empty_input() -> None:
    for encode, decode in CODECS.values():
        assert encode(b"") == b""
        assert decode(b"") == b""


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(16_000, 24_000), (22_050, 24_000), (24_000, 8_000)]
)
def test_resample_length(from_rate: int, to_rate: int) -> None:
    out = resample_pcm16(sine(from_rate), from_rate, to_rate)
    assert abs(len(out) // 2 - to_rate) <= 1
    assert len(out) % 2 == 0


@pytest.mark.parametrize(
    ("from_rate", "to_rate"),
    [(16_000, 24_000), (22_050, 24_000), (24_000, 8_000), (8_000, 24_000), (48_000, 24_000)],
)
def test_resample_quality_keeps_a_440hz_sine(from_rate: int, to_rate: int) -> None:
    out = unpack(resample_pcm16(sine(from_rate, amp=0.5), from_rate, to_rate))
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * to_rate / len(out)
    assert abs(peak_hz - 440) <= 1
    assert sine_snr_db(out, to_rate, 440.0) > 40
    assert np.max(np.abs(out)) == pytest.approx(16384, rel=0.02)


def test_resample_same_rate_returns_input_and_empty_input() -> None:
    data = sine(16_000, seconds=0.01)
    assert resample_pcm16(data, 16_000, 16_000) == data
    assert resample_pcm16(b"", 16_000, 24_000) == b""


@pytest.mark.parametrize("rates", [(0, 24_000), (16_000, -1), (16_000.0, 24_000)])
def test_resample_rejects_bad_rates(rates: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        resample_pcm16(b"\x00\x00", *rates)
    with pytest.raises(ValueError, match="positive integer"):
        StreamingResampler(*rates)


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(16_000, 24_000), (22_050, 24_000), (24_000, 8_000)]
)
@pytest.mark.parametrize("chunk_bytes", [960, 1001, 7])
def test_streaming_resampler_matches_one_shot(
    from_rate: int, to_rate: int, chunk_bytes: int
) -> None:
    data = sine(from_rate)
    resampler = StreamingResampler(from_rate, to_rate)
    parts = [resampler.process(data[i : i + chunk_bytes]) for i in range(0, len(data), chunk_bytes)]
    parts.append(resampler.process(b"", last=True))
    streamed = unpack(b"".join(parts))
    one_shot = unpack(resample_pcm16(data, from_rate, to_rate))
    assert len(streamed) == len(one_shot)
    assert np.max(np.abs(streamed - one_shot)) <= 8
    assert sine_snr_db(streamed, to_rate, 440.0) > 40


def test_streaming_resampler_same_rate_passes_through() -> None:
    resampler = StreamingResampler(24_000, 24_000)
    assert resampler.process(b"\x01\x02\x03") == b"\x01\x02"
    assert resampler.process(b"\x04", last=True) == b"\x03\x04"


def test_streaming_resampler_rejects_dangling_byte_at_end() -> None:
    resampler = StreamingResampler(16_000, 24_000)
    resampler.process(b"\x00" * 100)
    with pytest.raises(AudioFormatError, match="even number of bytes, got 3"):
        resampler.process(b"\x00" * 3, last=True)


# --------------------------------------------------------------------------- format math


def test_rates_and_bytes_per_second() -> None:
    assert (PCM16_SAMPLE_RATE, G711_SAMPLE_RATE) == (24_000, 8_000)
    assert [sample_rate_of(f) for f in FORMATS] == [24_000, 8_000, 8_000]
    assert [bytes_per_second(f) for f in FORMATS] == [48_000, 8_000, 8_000]


@pytest.mark.parametrize(
    ("byte_count", "name", "expected"),
    [
        (48_000, "pcm16", 1000.0),
        (960, "pcm16", 20.0),
        (1, "pcm16", 1 / 48),
        (0, "pcm16", 0.0),
        (8_000, "g711_ulaw", 1000.0),
        (160, "g711_alaw", 20.0),
        (1, "g711_ulaw", 0.125),
    ],
)
def test_duration_ms(byte_count: int, name: AudioFormatName, expected: float) -> None:
    assert duration_ms(byte_count, name) == pytest.approx(expected)


def test_duration_ms_defaults_to_pcm16_and_rejects_negative() -> None:
    assert duration_ms(4800) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="non-negative"):
        duration_ms(-2)


@pytest.mark.parametrize(
    ("ms", "name", "expected"),
    [
        (20, "pcm16", 960),
        (20, "g711_ulaw", 160),
        (20, "g711_alaw", 160),
        (1000, "pcm16", 48_000),
        (0, "pcm16", 0),
        (0.03, "pcm16", 0),
        (0.05, "pcm16", 2),
        (10.01, "pcm16", 480),
        (0.1, "g711_ulaw", 0),
        (0.2, "g711_ulaw", 1),
        (2.5, "g711_alaw", 20),
    ],
)
def test_bytes_for_ms(ms: float, name: AudioFormatName, expected: int) -> None:
    assert bytes_for_ms(ms, name) == expected


@pytest.mark.parametrize(
    ("seconds", "name", "expected"),
    [(4.02, "pcm16", 192_960), (8.12, "pcm16", 389_760), (0.125125, "g711_ulaw", 1001)],
)
def test_bytes_for_ms_absorbs_float_rounding(
    seconds: float, name: AudioFormatName, expected: int
) -> None:
    # 4.02 * 1000 == 4019.9999999999995: a plain floor would drop the last sample.
    assert bytes_for_ms(seconds * 1000, name) == expected


@pytest.mark.parametrize("ms", [-1.0, math.nan, math.inf])
def test_bytes_for_ms_rejects_invalid(ms: float) -> None:
    with pytest.raises(ValueError):
        bytes_for_ms(ms)


@given(samples=st.integers(min_value=0, max_value=10_000_000), name=st.sampled_from(FORMATS))
def test_bytes_for_ms_inverts_duration_ms(samples: int, name: AudioFormatName) -> None:
    width = 2 if name == "pcm16" else 1
    assert bytes_for_ms(duration_ms(samples * width, name), name) == samples * width


@given(ms=st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_bytes_for_ms_is_whole_samples_and_never_exceeds_duration(ms: float) -> None:
    n = bytes_for_ms(ms)
    assert n % 2 == 0
    assert duration_ms(n) <= ms * (1 + 1e-9) + 1e-9
    assert duration_ms(n + 2) > ms


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pcm16", "pcm16"),
        ("pcm", "pcm16"),
        ("audio/pcm", "pcm16"),
        ({"type": "audio/pcm", "rate": 24000}, "pcm16"),
        ({"type": "audio/pcm"}, "pcm16"),
        ("g711_ulaw", "g711_ulaw"),
        ("pcmu", "g711_ulaw"),
        ("audio/pcmu", "g711_ulaw"),
        ({"type": "audio/pcmu"}, "g711_ulaw"),
        ("g711_alaw", "g711_alaw"),
        ("pcma", "g711_alaw"),
        ("audio/pcma", "g711_alaw"),
        ({"type": "audio/pcma"}, "g711_alaw"),
        (SimpleNamespace(type="audio/pcm", rate=24000), "pcm16"),
        (SimpleNamespace(type="audio/pcm", rate=None), "pcm16"),
        (SimpleNamespace(type="audio/pcmu"), "g711_ulaw"),
        (SimpleNamespace(type="audio/pcma"), "g711_alaw"),
    ],
)
def test_normalize_audio_format_accepts(value: object, expected: str) -> None:
    assert normalize_audio_format(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "mp3",
        "",
        "pcm24",
        None,
        42,
        b"pcm16",
        {"rate": 24000},
        {"type": "audio/mp3"},
        {"type": "audio/pcm", "rate": 16000},
        {"type": "audio/pcm", "rate": "24000"},
        {"type": "audio/pcmu", "rate": 24000},
        SimpleNamespace(type="audio/pcm", rate=44100),
        SimpleNamespace(type=None),
        object(),
    ],
)
def test_normalize_audio_format_rejects(value: object) -> None:
    with pytest.raises(AudioFormatError) as info:
        normalize_audio_format(value)
    message = str(info.value)
    if "rate" in message and "Unsupported sample rate" in message:
        assert "24000" in message or "8000" in message
    else:
        for accepted in ("pcm16", "g711_ulaw", "g711_alaw", "audio/pcm"):
            assert accepted in message
    assert isinstance(info.value, ValueError)


def test_openai_typed_format_objects() -> None:
    formats = pytest.importorskip("openai.types.realtime.realtime_audio_formats")
    assert normalize_audio_format(formats.AudioPCM(type="audio/pcm", rate=24000)) == "pcm16"
    assert normalize_audio_format(formats.AudioPCMU(type="audio/pcmu")) == "g711_ulaw"
    assert normalize_audio_format(formats.AudioPCMA(type="audio/pcma")) == "g711_alaw"


def test_ga_audio_format() -> None:
    assert ga_audio_format("pcm16") == {"type": "audio/pcm", "rate": 24000}
    assert ga_audio_format("g711_ulaw") == {"type": "audio/pcmu"}
    assert ga_audio_format("g711_alaw") == {"type": "audio/pcma"}
    for name in FORMATS:
        assert normalize_audio_format(ga_audio_format(name)) == name


# --------------------------------------------------------------------------- PCM16 validation


@pytest.mark.parametrize(
    "call",
    [
        ulaw_encode,
        alaw_encode,
        pcm16_to_float32,
        lambda b: resample_pcm16(b, 16_000, 24_000),
        lambda b: resample_pcm16(b, 24_000, 24_000),
        lambda b: decode_to_pcm16(b, "pcm16"),
        lambda b: pcm16_to_format(b, 24_000, "pcm16"),
        lambda b: pcm16_to_format(b, 16_000, "g711_ulaw"),
    ],
)
def test_odd_byte_count_is_rejected(call: Callable[[bytes], object]) -> None:
    with pytest.raises(
        AudioFormatError, match="PCM16 audio must have an even number of bytes, got 3"
    ):
        call(b"\x00\x01\x02")


def test_odd_byte_count_rejected_by_write_wav(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="even number of bytes, got 5"):
        write_wav(tmp_path / "odd.wav", b"\x00" * 5, 16_000)


# --------------------------------------------------------------------------- conversions


def test_decode_to_pcm16() -> None:
    data = sine(24_000, seconds=0.02)
    assert decode_to_pcm16(data, "pcm16") == (data, 24_000)
    codes = bytes([0x00, 0x80, 0xFF])
    assert decode_to_pcm16(codes, "g711_ulaw") == (ulaw_decode(codes), 8_000)
    assert decode_to_pcm16(codes, "g711_alaw") == (alaw_decode(codes), 8_000)


def test_pcm16_to_format() -> None:
    data = sine(16_000)
    out = pcm16_to_format(data, 16_000, "pcm16")
    assert out == resample_pcm16(data, 16_000, 24_000)
    assert pcm16_to_format(out, 24_000, "pcm16") == out
    ulaw = pcm16_to_format(data, 16_000, "g711_ulaw")
    assert ulaw == ulaw_encode(resample_pcm16(data, 16_000, 8_000))
    assert abs(len(ulaw) - 8_000) <= 1
    alaw = pcm16_to_format(data, 16_000, "g711_alaw")
    assert alaw == alaw_encode(resample_pcm16(data, 16_000, 8_000))
    decoded, rate = decode_to_pcm16(ulaw, "g711_ulaw")
    assert rate == 8_000
    assert sine_snr_db(unpack(decoded), rate, 440.0) > 30


def test_pcm16_float32_conversion() -> None:
    floats = pcm16_to_float32(pcm([-32768, -16384, 0, 16384, 32767]))
    assert floats.dtype == np.float32
    assert floats.tolist() == [-1.0, -0.5, 0.0, 0.5, 32767 / 32768]
    all_floats = pcm16_to_float32(pcm(ALL_INT16))
    assert float(all_floats.min()) == -1.0
    assert float(all_floats.max()) < 1.0
    assert float32_to_pcm16(all_floats) == pcm(ALL_INT16)


def test_float32_to_pcm16_rounds_and_clips() -> None:
    out = float32_to_pcm16(np.array([2.0, -2.0, 1.0, -1.0, 0.5, 0.25 / 32768, 0.75 / 32768]))
    assert unpack(out).tolist() == [32767, -32768, 32767, -32768, 16384, 0, 1]
    assert float32_to_pcm16([0.0, 0.5]) == pcm([0, 16384])
    with pytest.raises(AudioFormatError, match="NaN"):
        float32_to_pcm16(np.array([0.0, np.nan]))


# --------------------------------------------------------------------------- WAV


def test_wav_round_trip_mono(tmp_path: Path) -> None:
    data = sine(16_000, seconds=0.25) + pcm([-32768, 32767, -1, 0, 1])
    path = tmp_path / "mono.wav"
    write_wav(path, data, 16_000)
    assert read_wav(path) == (data, 16_000)
    assert read_wav(str(path)) == (data, 16_000)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16_000)


def test_wav_stereo_is_mixed_down(tmp_path: Path) -> None:
    left = np.array([1000, -32768, 32767, 5, -5, 0])
    right = np.array([3000, -32768, 32767, -5, -6, 7])
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(22_050)
        wav.writeframes(pcm(np.stack([left, right], axis=1).ravel()))
    data, rate = read_wav(path)
    assert rate == 22_050
    assert unpack(data).tolist() == [2000, -32768, 32767, 0, -6, 3]


def test_wav_rejects_other_sample_widths(tmp_path: Path) -> None:
    path = tmp_path / "eight_bit.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8_000)
        wav.writeframes(bytes(100))
    with pytest.raises(AudioFormatError, match="8-bit"):
        read_wav(path)


def test_wav_rejects_non_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "not.wav"
    path.write_bytes(b"definitely not a RIFF file")
    with pytest.raises(AudioFormatError, match="16-bit PCM WAV"):
        read_wav(path)


def test_write_wav_rejects_bad_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(tmp_path / "bad.wav", b"\x00\x00", 0)
