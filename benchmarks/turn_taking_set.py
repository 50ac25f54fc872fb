"""The turn-taking set: utterances, pauses, backchannels, noises and barge-ins, made with espeak-ng.

    python benchmarks/turn_taking_set.py [--out out/turn_taking]   # writes the WAVs (16 kHz mono)

The set is defined here (texts, speaking rates, voices, pause lengths from a fixed seed) and the
audio is regenerated deterministically from it: espeak-ng is deterministic, and the noises come
from a seeded generator. `benchmarks/turn_taking.py` calls `build_set()` directly (cached under
`out/turn_taking/`), so nothing large is kept in the repository.

- 20 complete utterances (questions and commands) with normal trailing silence;
- 20 paused utterances: the same kind of sentence with a 400-900 ms pause inserted where the
  sentence is clearly unfinished ("I'd like to set a timer for | ten minutes");
- 10 backchannels ("mm-hm", "yeah", "right", ...) and 6 noises (coughs, a knock, a click,
  breaths) to play over the assistant's speech;
- 10 real barge-ins ("Wait, I meant Berlin, not Paris.") to play over the assistant's speech.

Speaking rates cycle through 135, 165 and 195 words per minute and voices through en-us and
en-gb, so each kind holds every rate.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime_agents.audio import resample_pcm16

SAMPLE_RATE = 16_000
RATES = (135, 165, 195)
VOICES = ("en-us", "en-gb")
SEED = 12

COMPLETE = (
    "What's the weather in Paris?",
    "Set a timer for ten minutes.",
    "Play some jazz music.",
    "Who wrote Romeo and Juliet?",
    "How many legs does a spider have?",
    "What is the capital of France?",
    "Turn the volume down a little.",
    "Will it rain in London tomorrow?",
    "Tell me a joke.",
    "What time is it in Tokyo?",
    "Stop the music.",
    "How tall is Mount Everest?",
    "Set an alarm for seven in the morning.",
    "Is it cold in Oslo today?",
    "Play my workout playlist.",
    "What is the largest planet?",
    "Cancel the timer.",
    "Name a fruit that is yellow.",
    "How do you say hello in Spanish?",
    "Thank you, that's all.",
)
PAUSED = (
    ("I'd like to set a timer for", "ten minutes."),
    ("What's the weather going to be in", "London tomorrow?"),
    ("Can you play some music by", "the Beatles?"),
    ("Tell me a short story about", "a dragon."),
    ("Remind me to call my mother and", "my sister tonight."),
    ("How far is it from Paris to", "Berlin?"),
    ("I want to know the capital of", "Australia."),
    ("Please turn the volume up to", "eight."),
    ("Could you tell me the time in", "New York?"),
    ("I think we should go to the", "beach tomorrow."),
    ("What is the weather like in", "Madrid this weekend?"),
    ("Set an alarm for", "six thirty."),
    ("Can you tell me how to get to the", "train station?"),
    ("My favourite kind of music is", "classical piano."),
    ("Play something relaxing because", "I am tired."),
    ("Who was the first person to walk on the", "moon?"),
    ("I need a timer for my", "pasta please."),
    ("Tell me the weather in Rome and", "in Naples."),
    ("What's the difference between a", "frog and a toad?"),
    ("Could you please remind me about the", "meeting at noon?"),
)
BACKCHANNELS = ("mm-hm", "yeah", "right", "okay", "uh-huh", "I see", "sure", "yes", "got it", "mhm")
BARGE_INS = (
    "Wait, I meant Berlin, not Paris.",
    "Actually, tell me about Rome instead.",
    "No, cancel that timer please.",
    "Hold on, can you repeat the last part?",
    "Stop, that's not what I asked for.",
    "Sorry, I wanted the weather in Oslo.",
    "Can you speak a bit more slowly please?",
    "Never mind, play some music instead.",
    "Excuse me, what did you just say?",
    "Stop talking and set a timer for five minutes.",
)
NOISES = ("cough", "cough", "knock", "click", "breath", "cough")


@dataclass(frozen=True)
class Clip:
    """One piece of the set: 16 kHz mono PCM16 audio and what it is."""

    name: str
    kind: str
    """"complete", "paused", "backchannel", "noise" or "barge_in"."""
    text: str
    pcm: bytes
    speech_end_ms: float
    """End of the last voiced sample (the trailing silence follows)."""
    pause_ms: int = 0
    """The inserted mid-sentence pause (paused utterances)."""


def espeak(text: str, rate: int, voice: str) -> np.ndarray:
    """`text` spoken by espeak-ng at `rate` words per minute, 16 kHz int16, silences trimmed."""
    wav_bytes = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        source_rate = reader.getframerate()
        pcm = reader.readframes(reader.getnframes())
    samples = np.frombuffer(resample_pcm16(pcm, source_rate, SAMPLE_RATE), dtype="<i2")
    return trim(samples)


def trim(samples: np.ndarray, level: float = 300.0) -> np.ndarray:
    """Drop leading and trailing samples quieter than `level` (10 ms resolution)."""
    frame = SAMPLE_RATE // 100
    count = len(samples) // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > level)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] * frame : (loud[-1] + 1) * frame]


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * ms / 1000), dtype=np.int16)


def noise(kind: str, generator: np.random.Generator) -> np.ndarray:
    """A cough (two filtered noise bursts), a knock (damped low tones), a click or a breath."""
    rate = SAMPLE_RATE
    if kind == "cough":
        parts = []
        for length_ms in (generator.uniform(140, 220), generator.uniform(90, 160)):
            count = int(rate * length_ms / 1000)
            white = generator.standard_normal(count)
            shaped = np.convolve(white, np.ones(6) / 6, mode="same")  # a softer, lower noise
            envelope = np.exp(-np.linspace(0, 5, count)) * np.minimum(1, np.linspace(0, 8, count))
            parts += [shaped * envelope * 9000, np.zeros(int(rate * 0.08))]
        signal = np.concatenate(parts)
    elif kind == "knock":
        time = np.arange(int(rate * 0.35)) / rate
        hit = np.sin(2 * np.pi * 180 * time) + 0.5 * np.sin(2 * np.pi * 420 * time)
        one = hit * np.exp(-time * 30) * 12000
        signal = np.concatenate([one, np.zeros(int(rate * 0.12)), one * 0.8])
    elif kind == "click":
        signal = np.zeros(int(rate * 0.1))
        signal[10:40] = generator.standard_normal(30) * 15000
    else:  # breath: long soft noise
        count = int(rate * 0.6)
        white = np.convolve(generator.standard_normal(count), np.ones(3) / 3, mode="same")
        signal = white * np.hanning(count) * 2500
    return np.clip(signal, -32768, 32767).astype(np.int16)


def build_set() -> list[Clip]:
    """Every clip of the set, in a fixed order (deterministic)."""
    generator = np.random.default_rng(SEED)
    clips: list[Clip] = []
    for index, text in enumerate(COMPLETE):
        rate, voice = RATES[index % 3], VOICES[index % 2]
        speech = espeak(text, rate, voice)
        pcm = np.concatenate([silence(300), speech, silence(1500)])
        end = 300 + len(speech) * 1000 / SAMPLE_RATE
        clips.append(Clip(f"complete_{index:02d}", "complete", text, pcm.tobytes(), end))
    for index, (head, tail) in enumerate(PAUSED):
        rate, voice = RATES[(index + 1) % 3], VOICES[(index + 1) % 2]
        pause = int(generator.integers(400, 901))
        first, second = espeak(head, rate, voice), espeak(tail, rate, voice)
        pcm = np.concatenate([silence(300), first, silence(pause), second, silence(1500)])
        end = 300 + (len(first) + len(second)) * 1000 / SAMPLE_RATE + pause
        clips.append(
            Clip(f"paused_{index:02d}", "paused", f"{head} ... {tail}", pcm.tobytes(), end, pause)
        )
    for index, text in enumerate(BACKCHANNELS):
        rate, voice = RATES[index % 3], VOICES[index % 2]
        speech = espeak(text, rate, voice)
        end = len(speech) * 1000 / SAMPLE_RATE
        clips.append(Clip(f"backchannel_{index:02d}", "backchannel", text, speech.tobytes(), end))
    for index, kind in enumerate(NOISES):
        sound = noise(kind, generator)
        end = len(sound) * 1000 / SAMPLE_RATE
        clips.append(Clip(f"noise_{index:02d}", "noise", kind, sound.tobytes(), end))
    for index, text in enumerate(BARGE_INS):
        rate, voice = RATES[index % 3], VOICES[index % 2]
        speech = espeak(text, rate, voice)
        end = len(speech) * 1000 / SAMPLE_RATE
        clips.append(Clip(f"barge_in_{index:02d}", "barge_in", text, speech.tobytes(), end))
    return clips


def write_set(directory: Path) -> list[Path]:
    """Write every clip as a 16 kHz mono WAV under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for clip in build_set():
        path = directory / f"{clip.name}.wav"
        with wave.open(str(path), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE)
            writer.writeframes(clip.pcm)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/turn_taking"))
    arguments = parser.parse_args()
    paths = write_set(arguments.out)
    print(f"wrote {len(paths)} clips to {arguments.out}")


if __name__ == "__main__":
    main()
