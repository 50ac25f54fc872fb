"""The server's cheap per-append paths give the same answers as the general ones."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
import os
import random
import re
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from realtime_agents.audio import alaw_encode, ulaw_encode
from realtime_agents.server import b64
from realtime_agents.server.conversation import decode_base64
from realtime_agents.server.effects import AnalyzeAudio, ProtocolLimits
from realtime_agents.server.engine_runner import EngineRunner
from realtime_agents.server.engines.base import EngineSet, Pcm16RateDetector
from realtime_agents.server.engines.scripted import (
    EnergyDetector,
    EnergyVad,
    ScriptedLlm,
    ToneTts,
    scripted_engine_set,
)
from realtime_agents.server.errors import ProtocolError
from realtime_agents.server.ids import new_call_id, new_id
from realtime_agents.server.input_audio import InputAudioBuffer
from realtime_agents.server.pipeline import _VadRunner
from realtime_agents.server.protocol import SessionProtocol


def tone(ms: int, rate: int = 24000, amplitude: float = 0.3, hz: float = 250.0) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * np.sin(2 * math.pi * hz * t) * 32767).astype("<i2").tobytes()


def test_energy_detector_at_rate_keeps_the_frame_duration() -> None:
    detector = EnergyDetector(16000, 512, 0.02)
    assert isinstance(detector, Pcm16RateDetector)
    at_24k = detector.at_rate(24000)
    assert at_24k is not None and (at_24k.sample_rate, at_24k.frame_samples) == (24000, 768)
    at_8k = detector.at_rate(8000)
    assert at_8k is not None and at_8k.frame_samples == 256
    assert detector.at_rate(22050) is None  # 705.6 samples: no whole frame


@pytest.mark.parametrize("amplitude", [0.0, 0.001, 0.02, 0.04, 0.3, 0.99])
def test_pcm16_probability_matches_float_probability(amplitude: float) -> None:
    detector = EnergyDetector(24000, 768, 0.02)
    samples = np.frombuffer(tone(32, amplitude=amplitude), dtype="<i2")
    floats = samples.astype(np.float32) / np.float32(32768.0)
    assert detector.pcm16_probability(samples) == pytest.approx(
        detector.speech_probability(floats), rel=1e-6, abs=1e-9
    )
    assert detector.pcm16_probability(samples[:0]) == 0.0


def run(runner: _VadRunner, chunks: list[bytes], audio_format: str = "pcm16", ms: int = 40):
    frames = []
    for index, chunk in enumerate(chunks):
        effect = AnalyzeAudio(chunk, audio_format, float(index * ms))  # type: ignore[arg-type]
        frames += runner.analyze(effect)
    return frames


def test_vad_runner_frames_input_rate_without_resampling() -> None:
    runner = _VadRunner(scripted_engine_set(), inline=True)
    chunks = [bytes(1920)] * 3 + [tone(40)] * 5 + [bytes(1920)] * 2
    frames = run(runner, chunks)
    assert runner.rate == 24000 and runner.frame == 768 and runner._resampler is None
    # 400 ms of audio: twelve whole 32 ms frames on exact millisecond boundaries
    assert [(start, end) for start, end, _ in frames] == [
        (32.0 * i, 32.0 * i + 32) for i in range(12)
    ]
    speech = [probability >= 0.5 for _, _, probability in frames]
    assert speech == [False] * 3 + [True] * 7 + [False] * 2  # tone from 120 to 320 ms


@pytest.mark.parametrize("encode", [ulaw_encode, alaw_encode])
def test_vad_runner_g711_runs_at_8k(encode) -> None:  # type: ignore[no-untyped-def]
    runner = _VadRunner(scripted_engine_set(), inline=True)
    pcm_8k = tone(40, rate=8000)
    name = "g711_ulaw" if encode is ulaw_encode else "g711_alaw"
    frames = run(runner, [encode(bytes(640))] * 2 + [encode(pcm_8k)] * 2, name)
    assert runner.rate == 8000 and runner.frame == 256
    assert [round(end) for _, end, _ in frames] == [32, 64, 96, 128, 160]
    assert [p >= 0.5 for *_, p in frames] == [False, False, True, True, True]


class _FloatOnlyDetector:
    """A detector without the PCM16 fast path (like a model VAD)."""

    sample_rate = 16000
    frame_samples = 512

    def __init__(self) -> None:
        self.seen: list[int] = []

    def speech_probability(self, frame: np.ndarray) -> float:  # type: ignore[type-arg]
        assert frame.dtype == np.float32
        self.seen.append(len(frame))
        return float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))))

    def reset(self) -> None:
        pass


class _FloatOnlyVad:
    name = "float-only"

    def create_detector(self) -> _FloatOnlyDetector:
        return _FloatOnlyDetector()


def test_vad_runner_resamples_for_detectors_without_the_fast_path() -> None:
    base = scripted_engine_set()
    engines = EngineSet(vad=_FloatOnlyVad(), stt=base.stt, llm=base.llm, tts=base.tts)
    runner = _VadRunner(engines, inline=True)
    frames = run(runner, [tone(40)] * 10)
    assert runner.rate == 16000 and runner._resampler is not None
    assert runner.detector.seen and set(runner.detector.seen) == {512}  # type: ignore[attr-defined]
    assert [start for start, _, _ in frames] == [32.0 * i for i in range(len(frames))]
    assert len(frames) in (11, 12)  # the streaming resampler holds back a few samples


def test_vad_runner_restarts_on_a_timeline_gap() -> None:
    runner = _VadRunner(EngineSet(vad=EnergyVad(), **_rest()), inline=True)
    run(runner, [tone(20)])  # 20 ms pending, no frame yet
    frames = runner.analyze(AnalyzeAudio(tone(40), "pcm16", 1000.0))
    assert frames[0][:2] == (1000.0, 1032.0)


def _rest():  # type: ignore[no-untyped-def]
    base = scripted_engine_set()
    return {"stt": base.stt, "llm": base.llm, "tts": base.tts}


def test_input_buffer_caches_format_numbers() -> None:
    buffer = InputAudioBuffer()
    assert (buffer.bytes_per_ms, buffer.sample_bytes) == (48.0, 2)
    buffer.append(bytes(4800))
    assert buffer.duration_ms == 100.0
    buffer.set_format("g711_ulaw")
    assert (buffer.bytes_per_ms, buffer.sample_bytes, buffer.start_ms) == (8.0, 1, 100.0)
    buffer.format = "pcm16"
    assert buffer.bytes_per_ms == 48.0


def test_decode_base64_accepts_exactly_what_validating_b64decode_accepts() -> None:
    alphabet = "ABab09+/=\n -_\u00e9"
    rng = random.Random(4)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(10))) for _ in range(20000)]
    texts += [base64.b64encode(bytes(range(n))).decode() for n in range(8)]
    for text in texts:
        try:
            expected: bytes | None = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            expected = None
        try:
            got: bytes | None = decode_base64(text, "audio")
        except ProtocolError:
            got = None
        assert got == expected, text


def test_ids_keep_their_shape_and_never_repeat() -> None:
    ids = [new_id("event") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"event_[A-Za-z0-9]{21}", value) for value in ids)
    assert re.fullmatch(r"call_[A-Za-z0-9]{16}", new_call_id())
    assert len(new_id("x", 5000)) == 5002  # longer than one pool block


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    new_id("event")  # the pool now holds unused bytes the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id("event").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child.startswith("event_") and child != new_id("event")


async def collect(runner: EngineRunner, items: list[object], inline: bool) -> list[object]:
    def produce() -> Iterator[object]:
        for item in items:
            time.sleep(0.001 if item == "slow" else 0)
            yield item

    return [item async for item in runner.stream(produce, threading.Event(), inline=inline)]


@pytest.mark.parametrize("inline", [False, True])
async def test_stream_yields_every_item_in_order(inline: bool) -> None:
    items: list[object] = [*range(100), "slow", *range(100, 150), "slow"]
    assert await collect(EngineRunner(), items, inline) == items


@pytest.mark.parametrize("inline", [False, True])
async def test_stream_raises_the_producer_error(inline: bool) -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("engine broke")

    got = []
    with pytest.raises(ValueError, match="engine broke"):
        async for item in EngineRunner().stream(produce, threading.Event(), inline=inline):
            got.append(item)
    assert got == [1]


async def test_stream_stops_the_producer_thread_when_left_early() -> None:
    cancel, produced, finished = threading.Event(), [], threading.Event()

    def produce() -> Iterator[int]:
        try:
            for item in range(10_000):  # far more than the channel holds
                produced.append(item)
                yield item
        finally:
            finished.set()

    async with contextlib.aclosing(EngineRunner().stream(produce, cancel)) as stream:
        async for item in stream:
            if item == 3:
                break
    assert cancel.is_set()
    assert await asyncio.to_thread(finished.wait, 5)
    assert len(produced) < 100  # bounded: the producer waited for the consumer


def test_scripted_engines_without_delays_run_inline() -> None:
    assert ScriptedLlm().runs_inline and ToneTts().runs_inline
    assert not ScriptedLlm(token_delay_s=0.01).runs_inline
    assert not ScriptedLlm(reply=lambda text: text).runs_inline
    assert not ToneTts(chunk_delay_s=0.01).runs_inline


def test_b64_matches_the_stdlib() -> None:
    rng = random.Random(5)
    for size in [0, 1, 2, 3, 4, 100, 4800]:
        data = rng.randbytes(size)
        text = base64.b64encode(data).decode()
        assert b64.encode(data) == text
        assert b64.decode_strict(text) == data
    for bad in ["QQ=", "QQ==QQ==", "\u00e9", "QU JD"]:
        with pytest.raises((binascii.Error, ValueError)):
            b64.decode_strict(bad)
    assert b64.decode_strict("QUJD=") == b"ABC"  # the stdlib's leniency is kept


def _without_event_ids(outputs: list[object]) -> list[object]:
    return [
        {k: v for k, v in o.items() if k != "event_id"} if isinstance(o, dict) else o
        for o in outputs
    ]


@pytest.mark.parametrize("vad", [True, False])
def test_append_audio_gives_the_outputs_of_the_append_event(vad: bool) -> None:
    limits = ProtocolLimits(max_audio_buffer_ms=300)
    cores = [SessionProtocol(model="m", now=0.0, limits=limits) for _ in range(2)]
    if not vad:
        update = {"type": "session.update", "session": {"type": "realtime",
                  "audio": {"input": {"turn_detection": None}}}}  # fmt: skip
        for core in cores:
            core.receive(update, 0.0)
    chunk = base64.b64encode(tone(40)).decode()
    audios = [chunk, "", "AAA=", "AAAA====", "!!", "QUJD\n", chunk, chunk, *[chunk] * 6]
    for index, audio in enumerate(audios):
        event_id = f"e{index}" if index % 2 else None
        message: dict[str, object] = {"type": "input_audio_buffer.append", "audio": audio}
        if event_id is not None:
            message["event_id"] = event_id
        generic = cores[0].receive(message, 0.0)
        fast = cores[1].append_audio(audio, event_id)
        assert _without_event_ids(fast) == _without_event_ids(generic), audio  # type: ignore[arg-type]
        assert cores[0].buffer.end_ms == cores[1].buffer.end_ms
    assert any(  # the buffer limit was reached on both paths
        isinstance(o, dict) and o["error"]["code"] == "input_audio_buffer_too_large"
        for o in generic
    )


class _ReferenceBuffer:
    """The plain bytearray input buffer that `InputAudioBuffer` must behave like."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.start_ms = 0.0
        self.bytes_per_ms = 48.0

    @property
    def end_ms(self) -> float:
        return self.start_ms + len(self.data) / self.bytes_per_ms

    def offset(self, ms: float) -> int:
        offset = int((ms - self.start_ms) * self.bytes_per_ms)
        offset -= offset % 2
        return max(0, min(len(self.data), offset))

    def take_all(self) -> bytes:
        data = bytes(self.data)
        self.start_ms = self.end_ms
        self.data.clear()
        return data

    def take_until(self, start_ms: float, end_ms: float) -> bytes:
        begin, end = self.offset(start_ms), self.offset(end_ms)
        data = bytes(self.data[begin:end])
        del self.data[:end]
        self.start_ms += end / self.bytes_per_ms
        return data

    def peek_until(self, end_ms: float) -> bytes:
        return bytes(self.data[: self.offset(end_ms)])

    def trim_before(self, ms: float) -> None:
        cut = self.offset(ms)
        if cut:
            del self.data[:cut]
            self.start_ms += cut / self.bytes_per_ms


def test_chunked_input_buffer_matches_a_plain_bytearray() -> None:
    rng = random.Random(11)
    for _ in range(200):
        buffer, reference = InputAudioBuffer(), _ReferenceBuffer()
        counter = 0
        for _ in range(60):
            op = rng.random()
            if op < 0.5:
                size = 2 * rng.choice([0, 1, 3, 100, 511, 512, 960, 2000])
                data = bytes((counter + i) % 251 for i in range(size))
                counter += size
                buffer.append(data)
                reference.data += data
            else:
                span = reference.end_ms - reference.start_ms
                a = reference.start_ms + rng.uniform(-5, span + 5)
                b = reference.start_ms + rng.uniform(-5, span + 5)
                if op < 0.65:
                    buffer.trim_before(a)
                    reference.trim_before(a)
                elif op < 0.8:
                    assert buffer.peek_until(a) == reference.peek_until(a)
                elif op < 0.95:
                    assert buffer.take_until(min(a, b), max(a, b)) == reference.take_until(
                        min(a, b), max(a, b)
                    )
                else:
                    assert buffer.take_all() == reference.take_all()
            assert len(buffer) == len(reference.data)
            assert (buffer.start_ms, buffer.end_ms) == (reference.start_ms, reference.end_ms)
        assert buffer.take_all() == reference.take_all()


def test_tiny_appends_are_joined_into_few_chunks() -> None:
    buffer = InputAudioBuffer()
    for _ in range(10000):
        buffer.append(b"\x01\x02")
    assert len(buffer._chunks) <= 20000 // 1024 + 1
    assert buffer.take_all() == b"\x01\x02" * 10000
