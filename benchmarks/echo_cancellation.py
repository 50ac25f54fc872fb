"""Echo cancellation of `realtime-agents talk`: ERLE on the assistant's own voice, and barge-in.

    python benchmarks/echo_cancellation.py [--quick] [--no-live]

1. ERLE grid (offline). The assistant's voice (sentences spoken by the embedded piper voice; the
   bundled question WAVs when piper is not installed) is played as the reference and comes back
   into the microphone delayed 50-200 ms and attenuated 6-20 dB, once as a pure delayed copy
   and once through a synthetic room (the direct path plus an exponentially decaying
   reverberant tail, RT60 about 250 ms), and through that room from a small speaker that
   soft-clips its peaks into a microphone with a -55 dBFS noise floor (there the noise bounds
   the ERLE that can be measured). The canceller (talk's `WebRtcEchoCanceller`: WebRTC
   AEC3 from `livekit`) sees 20 ms blocks, reference first, as in `talk`. ERLE = microphone
   energy / output energy during far-end single talk, after the first second (convergence).
   Double talk: after convergence the person speaks over the echo; "person kept" is the
   output's energy over the person's speech relative to the person's speech alone.
2. Barge-in on the local server (embedded engines, in-process), through talk's own file code
   path at realtime pace: the person asks a question, the reply is mixed back into the
   microphone (`EchoPath`), and we count `input_audio_buffer.speech_started` while the
   assistant is answering. With the canceller the echo must not trigger it; without it (the
   control) it does; and a real second speaker talking over the answer must trigger it: the
   other bundled question (a recording the canceller has no reference for), and, where the
   `espeak-ng` program is installed, a clearly different synthetic voice. "live ERLE" is measured on
   the microphone audio of each run after the question ended.

Prints figures and PASS/FAIL against the targets (ERLE >= 20 dB, no echo barge-in, second
speaker barges in); exits 0 either way: these are measurements. The two CPUs are shared, so the
live runs' timing is only indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from realtime_agents import demo
from realtime_agents.audio import read_wav, resample_pcm16
from realtime_agents.talk import (
    EchoPath,
    FileAudioPort,
    InputCue,
    Playback,
    Recording,
    TurnState,
    converse,
)
from realtime_agents.talk.display import Display
from realtime_agents.talk.echo import WebRtcEchoCanceller, make_echo_canceller

RATE = 24_000
BLOCK_BYTES = RATE // 50 * 2
DELAYS_MS = (50, 100, 150, 200)
ATTENUATIONS_DB = (6, 10, 15, 20)
NOISE_RMS = 32768 * 10 ** (-55 / 20)
ASSISTANT_SENTENCES = (
    "The capital of France is Paris, a city on the river Seine.",
    "It is sunny in Paris today, with a temperature of twenty one degrees.",
    "I can help you with the weather, with facts, and with simple questions.",
)


def bundled(name: str) -> np.ndarray:
    pcm, rate = read_wav(str(files("realtime_agents") / "data" / f"question_{name}.wav"))
    return np.frombuffer(resample_pcm16(pcm, rate, RATE), dtype=np.int16).astype(np.float64)


def assistant_voice(engines: Any) -> tuple[np.ndarray, str]:
    """The assistant's voice at 24 kHz: piper sentences, else the bundled questions."""
    tts = getattr(engines, "tts", None)
    if tts is None:
        speech = np.concatenate([bundled("capital"), bundled("weather"), bundled("capital")])
        return speech, "the bundled question WAVs (piper is not installed)"
    parts = []
    for text in ASSISTANT_SENTENCES:
        pcm = b"".join(tts.synthesize(text, voice=None, speed=1.0, cancel=threading.Event()))
        pcm = resample_pcm16(pcm, tts.sample_rate, RATE)
        parts.append(np.frombuffer(pcm, dtype=np.int16).astype(np.float64))
        parts.append(np.zeros(RATE // 4))
    speech = np.concatenate(parts)
    return speech, f"{tts.name}, {len(ASSISTANT_SENTENCES)} sentences, {speech.size / RATE:.1f} s"


def room_response(delay_ms: float, attenuation_db: float, reverberant: bool) -> np.ndarray:
    """The speaker-to-microphone impulse response."""
    delay = round(delay_ms * RATE / 1000)
    gain = 10 ** (-attenuation_db / 20)
    if not reverberant:
        response = np.zeros(delay + 1)
        response[delay] = gain
        return response
    tail_samples = RATE // 4
    generator = np.random.default_rng(7)
    decay = np.exp(-6.9 * np.arange(tail_samples) / tail_samples)  # -60 dB over 250 ms
    tail = generator.standard_normal(tail_samples) * decay * 0.08
    response = np.zeros(delay + tail_samples)
    response[delay] = 1.0
    response[delay + 1 :] += tail[1:]
    return response * gain / np.sqrt(np.sum(response**2))


def espeak_voice(text: str) -> bytes | None:
    """`text` in espeak-ng's voice as 24 kHz PCM16, or None without the program."""
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "speech.wav")
        subprocess.run([program, "-w", path, text], check=True, capture_output=True)
        pcm, rate = read_wav(path)
    return resample_pcm16(pcm, rate, RATE)


def as_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16).tobytes()


def cancel(far: np.ndarray, microphone: np.ndarray) -> np.ndarray:
    """talk's loop: per 20 ms block, the played reference first, then the microphone."""
    canceller = WebRtcEchoCanceller()
    far_pcm, mic_pcm = as_pcm(far), as_pcm(microphone)
    out = bytearray()
    for start in range(0, len(mic_pcm), BLOCK_BYTES):
        canceller.reference(far_pcm[start : start + BLOCK_BYTES])
        out += canceller.capture(mic_pcm[start : start + BLOCK_BYTES])
    return np.frombuffer(bytes(out), dtype=np.int16).astype(np.float64)


def energy_db(samples: np.ndarray) -> float:
    return 10 * math.log10(float(np.sum(samples**2)) + 1.0)


@dataclass(frozen=True)
class GridCell:
    erle_db: float
    person_kept_db: float
    seconds_per_audio_second: float
    above_noise_db: float | None = None
    """The output's energy over the microphone's noise floor (noisy condition only)."""

    @property
    def passed(self) -> bool:
        """ERLE >= 20 dB, or the echo removed down to the noise floor (+1 dB)."""
        return self.erle_db >= 20 or (self.above_noise_db is not None and self.above_noise_db <= 1)


def grid_cell(voice: np.ndarray, person: np.ndarray, delay: int, attenuation: int,
              condition: str) -> GridCell:  # fmt: skip
    response = room_response(delay, attenuation, condition != "pure")
    played = voice
    noise = np.zeros(voice.size)
    if condition == "noisy":  # a small speaker's soft clipping on the peaks
        limit = 0.25 * 32768
        played = limit * np.tanh(voice / limit)
    echo = np.convolve(played, response)[: voice.size]
    if condition == "noisy":  # the microphone's noise floor
        noise = np.random.default_rng(11).standard_normal(voice.size) * NOISE_RMS
        echo = echo + noise
    started = time.perf_counter()
    cleaned = cancel(voice, echo)
    elapsed = time.perf_counter() - started
    settled = slice(RATE, None)
    erle = energy_db(echo[settled]) - energy_db(cleaned[settled])
    # Double talk: the person speaks over the last part of the echo.
    near = np.zeros(voice.size)
    start = voice.size - person.size - RATE // 5
    near[start : start + person.size] = person
    both = cancel(voice, echo + near)
    talk = slice(start, start + person.size)
    kept = energy_db(both[talk]) - energy_db(near[talk])
    above = energy_db(cleaned[settled]) - energy_db(noise[settled]) if noise.any() else None
    return GridCell(erle, kept, elapsed / (voice.size / RATE), above)


def _cell_text(cell: GridCell) -> str:
    noise = "" if cell.above_noise_db is None else f" ({cell.above_noise_db:+4.1f})"
    return f"{cell.erle_db:>9.1f}{noise} [{cell.person_kept_db:+5.1f}]".ljust(27)


CONDITIONS = {
    "pure": "a pure delayed copy",
    "room": "through a room (direct path + 250 ms reverberant tail)",
    "noisy": "room + speaker soft clipping + microphone noise at -55 dBFS",
}


def print_grid(voice: np.ndarray, person: np.ndarray, condition: str,
               delays: tuple[int, ...], attenuations: tuple[int, ...]) -> float:  # fmt: skip
    title = CONDITIONS[condition]
    print(f"\nERLE in dB, echo {title}; in brackets: the person's speech kept in double talk")
    if condition == "noisy":
        print("  (in parentheses: the output over the noise floor; <= +1 dB: echo removed to it)")
    print("  delay  " + "".join(f"{a:>6} dB".ljust(27) for a in attenuations) + "(attenuation)")
    worst = math.inf
    passed = True
    cost = []
    for delay in delays:
        cells = [grid_cell(voice, person, delay, a, condition) for a in attenuations]
        worst = min([worst, *(cell.erle_db for cell in cells)])
        passed = passed and all(cell.passed for cell in cells)
        cost.extend(cell.seconds_per_audio_second for cell in cells)
        row = "".join(_cell_text(cell) for cell in cells)
        print(f"  {delay:>3} ms {row}")
    target = "target >= 20 dB" + (" or down to the noise floor" if condition == "noisy" else "")
    print(f"  lowest ERLE {worst:.1f} dB ({target}): {'PASS' if passed else 'FAIL'}; "
          f"canceller time {np.median(cost) * 1000:.1f} ms per second of audio")  # fmt: skip
    return worst


# --------------------------------------------------------------------------- live barge-in


@dataclass(frozen=True)
class LiveCase:
    label: str
    echo: EchoPath
    aec: bool
    second_speaker: bytes | None
    expect_barge_in: bool


def _no_tools(name: str, arguments: Mapping[str, Any]) -> Any:
    return {"error": f"no tool {name} in this benchmark"}


async def live_case(url: str, case: LiveCase, question: bytes) -> tuple[int, float]:
    """(speech_started during the answer, ERLE on the microphone after the question)."""
    playback = Playback()
    turns = TurnState()
    cues = [InputCue(question, "now")]
    if case.second_speaker is not None:
        cues.append(InputCue(case.second_speaker, "during_reply", offset_ms=700))
    port = FileAudioPort(cues, playback, turns, echo=case.echo)
    recording = Recording()
    await converse(
        demo.session_settings(500), port, playback, make_echo_canceller(case.aec),
        Display(io.StringIO()), _no_tools, url=url, api_key="local", turns=turns,
        recording=recording, max_seconds=25.0,
    )  # fmt: skip
    after = len(question) + RATE  # half a second after the question (bytes)
    captured = np.frombuffer(bytes(recording.captured[after:]), dtype=np.int16).astype(float)
    cleaned = np.frombuffer(bytes(recording.cleaned[after:]), dtype=np.int16).astype(float)
    erle = energy_db(captured) - energy_db(cleaned) if case.second_speaker is None else math.nan
    return turns.barge_ins, erle


async def run_live(engines: Any, quick: bool) -> None:
    from realtime_agents.server.app import ServerOptions, serve

    server = await serve("127.0.0.1", 0, engines, ServerOptions(api_key=None))
    url = server.url + "?model=local"
    question = as_pcm(bundled("capital"))
    second = as_pcm(bundled("weather"))
    path = EchoPath(100, 6)
    cases = [
        LiveCase("echo 50 ms / 6 dB, AEC on", EchoPath(50, 6), True, None, False),
        LiveCase("echo 200 ms / 6 dB, AEC on", EchoPath(200, 6), True, None, False),
        LiveCase("echo 100 ms / 20 dB, AEC on", EchoPath(100, 20), True, None, False),
        LiveCase("echo 100 ms / 6 dB, AEC off (control)", path, False, None, True),
        LiveCase("other recording over echo 100 ms / 6 dB, AEC on", path, True, second, True),
    ]
    espeak = espeak_voice("Wait, what about tomorrow in London?")
    if espeak is not None:
        cases.append(LiveCase("espeak-ng voice over echo 100 ms / 6 dB, AEC on", path, True,
                              espeak, True))  # fmt: skip
    if quick:
        cases = [cases[0], cases[3], cases[-1]]
    print("\nBarge-in on the local server (embedded engines, talk's file path, realtime pace)")
    print(f"  {'case':<50}{'speech_started in answer':>26}{'live ERLE':>11}  expected")
    try:
        for case in cases:
            barge_ins, erle = await live_case(url, case, question)
            happened = barge_ins > 0
            verdict = "PASS" if happened == case.expect_barge_in else "FAIL"
            erle_text = "-" if math.isnan(erle) else f"{erle:.1f} dB"
            wanted = "barge-in" if case.expect_barge_in else "none"
            print(f"  {case.label:<50}{barge_ins:>26}{erle_text:>11}  {wanted:<9} {verdict}")
    finally:
        await server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid and 3 live cases")
    parser.add_argument("--no-live", action="store_true", help="skip the local-server runs")
    args = parser.parse_args()
    try:
        WebRtcEchoCanceller()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    engines: Any = None
    try:
        from realtime_agents.server.engines.loader import load_engines

        engines = load_engines("embedded", {}, log=io.StringIO())
    except Exception as error:  # no [local]/[piper]: the grid still runs on bundled speech
        print(f"(embedded engines unavailable: {error})")
    voice, source = assistant_voice(engines)
    person = bundled("weather")
    from importlib.metadata import version

    print(f"canceller: WebRTC AEC3 via livekit {version('livekit')} "
          f"rtc.AudioProcessingModule; assistant voice: {source}")  # fmt: skip
    delays = DELAYS_MS[::3] if args.quick else DELAYS_MS
    attenuations = ATTENUATIONS_DB[::3] if args.quick else ATTENUATIONS_DB
    for condition in CONDITIONS:
        print_grid(voice, person, condition, delays, attenuations)
    if not args.no_live and engines is not None:
        asyncio.run(run_live(engines, args.quick))
    elif not args.no_live:
        print("\n(live barge-in runs skipped: they need the embedded engines, extra [local])")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
