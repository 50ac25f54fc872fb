"""Turn taking on the local server: server_vad (silence only) against semantic_vad, side by side.

    python benchmarks/turn_taking.py [--quick] [--modes server_vad,semantic_vad] [--json PATH]
        [--kinds paused,complete,backchannel,noise,echo,bargein] [--repeat N]

Starts the local realtime server in-process with the embedded engines, connects a plain
WebSocket client with three tools in the session (get_weather, set_timer, play_music) and plays
the turn-taking set (`turn_taking_set.py`, espeak-ng at 135/165/195 wpm) at realtime pace in
20 ms chunks, always streaming (silence between clips). The client "plays" the assistant's
audio in real time from the arrival of its first delta, stops playing on
`input_audio_buffer.speech_started` (as SDK clients do), plays the next response (the answer to
the interruption) as a new playback, and can mix that playback back into its
input (the echo: attenuated, delayed, band-limited to 300-3400 Hz). Per mode it reports:

- false end of turn: paused utterances (a 400-900 ms pause where the sentence is unfinished)
  whose turn ended during the pause (a `speech_stopped` before the last word);
- end of speech -> first audio, p50/p95, on the complete utterances (a tool call is answered
  at once by the client, so a tool turn's first audio comes after the tool round trip; spoken
  and tool turns are also reported apart);
- backchannels and noises played 700 ms into the answer's playback: the answer is lost when
  the client saw `speech_started` while it played, or the response was cancelled;
- echo: the answer's playback mixed back at -6 to -20 dB with 50-200 ms delay; a
  self-interruption is a `speech_started` while it played;
- barge-ins: a real sentence spoken 800 ms into playback (half of them over -10 dB echo):
  interrupted when `speech_started` arrives while it plays; the delay from the sentence's
  first sample to the arrival of `speech_started` is reported (p50/max).

`--kinds` runs a subset of the trials (the figures of the others read "-"); `--repeat N` plays
each overlap trial (backchannel, noise, echo, barge-in) N times, for the flaky ones.

Latency figures are distorted by whatever else runs on the two cores: the load average is
printed. The figures are not assertions; the script exits 0 unless the server fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import websockets
from turn_taking_set import SAMPLE_RATE as SET_RATE
from turn_taking_set import Clip, build_set

from realtime_agents.audio import resample_pcm16
from realtime_agents.testing.sample_tools import MUSIC_TOOL, TIMER_TOOL, WEATHER_TOOL

RATE = 24_000
CHUNK = RATE // 50  # 20 ms
INSTRUCTIONS = "You are a friendly voice assistant. Answer in two or three short sentences."
TOOLS: list[dict[str, Any]] = [WEATHER_TOOL, TIMER_TOOL, MUSIC_TOOL]
LONG_QUESTION = "Tell me about the city of Paris."
ECHO_CASES = [(-6, 50), (-6, 200), (-10, 100), (-10, 150), (-15, 120), (-15, 200), (-20, 50)]
ECHO_CASES += [(-20, 180)]
"""(level dB, delay ms) of the echo-only trials."""


def band_pass_kernel(rate: int = RATE, low: float = 300.0, high: float = 3400.0) -> np.ndarray:
    """A 301-tap windowed-sinc band-pass (a phone line's band)."""
    taps = np.arange(301) - 150

    def lowpass(cut: float) -> np.ndarray:
        return 2 * cut / rate * np.sinc(2 * cut / rate * taps)

    return (lowpass(high) - lowpass(low)) * np.hamming(301)


KERNEL = band_pass_kernel()


class Playback:
    """The client's playback of one answer, on the input sample timeline.

    Playback and capture share the device's clock: a delta is queued to play right after the
    previous one, or at once if the queue ran dry (the sample being captured when it arrives),
    and the echo of what plays at input sample n is captured at n + delay.
    """

    def __init__(self) -> None:
        self.track = bytearray()
        self.origin: int | None = None
        """Input sample at which `track` starts playing."""
        self.end = 0
        self.stopped: int | None = None
        self.started_at: float | None = None
        """Wall time of the first delta."""

    def add(self, pcm: bytes, at_sample: int, now: float) -> None:
        if self.stopped is not None:
            return
        if self.origin is None:
            self.origin, self.end, self.started_at = at_sample, at_sample, now
        start = max(self.end, at_sample)
        assert self.origin is not None
        self.track += bytes(2 * (start - self.end)) + pcm
        self.end = start + len(pcm) // 2

    def stop(self, at_sample: int) -> None:
        if self.stopped is None and self.origin is not None:
            self.stopped = at_sample
            self.end = min(self.end, at_sample)

    def playing(self, sample: int) -> bool:
        return self.origin is not None and self.stopped is None and sample < self.end

    def segment(self, first: int, count: int) -> np.ndarray:
        """What plays at input samples `first` .. `first + count` (zeros where nothing does)."""
        out = np.zeros(count)
        if self.origin is None:
            return out
        low, high = max(first, self.origin), min(first + count, self.end)
        if high > low:
            begin, finish = 2 * (low - self.origin), 2 * (high - self.origin)
            piece = np.frombuffer(bytes(self.track[begin:finish]), dtype="<i2")
            out[low - first : high - first] = piece
        return out


class Client:
    """One WebSocket session: streams input in real time and records events with arrival times."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.playback = Playback()
        self.sent_samples = 0
        self.clock_origin = 0.0
        self.items: list[str] = []
        self.changed = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())
        self.echo: tuple[float, float] | None = None
        """(gain, delay s) while the playback is mixed back into the input."""
        self.echo_tail = np.zeros(len(KERNEL) - 1)
        self.overlay: np.ndarray | None = None
        self.overlay_at = 0

    async def _read(self) -> None:
        async for message in self.connection:
            event = json.loads(message)
            now = time.monotonic()
            self.events.append((now, event))
            kind = event["type"]
            if kind == "response.output_audio.delta":
                self.playback.add(base64.b64decode(event["delta"]), self.sent_samples, now)
            elif kind == "input_audio_buffer.speech_started":
                self.playback.stop(self.sent_samples)
            elif kind == "response.created" and self.playback.stopped is not None:
                self.playback = Playback()  # the answer to the interruption plays too
            elif kind == "conversation.item.added":
                self.items.append(event["item"]["id"])
            elif kind == "response.function_call_arguments.done":
                await self.send(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "function_call_output",
                            "call_id": event["call_id"],
                            "output": json.dumps({"ok": True, "result": "done"}),
                        },
                    }
                )
            elif kind == "response.done":
                outputs = event["response"].get("output") or []
                if any(item.get("type") == "function_call" for item in outputs):
                    await self.send({"type": "response.create"})
            elif kind == "error":
                print("   server error:", event["error"].get("message"), flush=True)
            self.changed.set()

    async def send(self, event: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(event))

    def input_ms(self) -> float:
        return self.sent_samples * 1000 / RATE

    def new_answer(self) -> None:
        self.playback = Playback()

    async def stream(self, seconds: float, until: Any = None) -> None:
        """Stream `seconds` of input in real time (overlay + echo), or until `until()` is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if until is not None and until():
                return
            await self._send_chunk()
            behind = (self.clock_origin + self.sent_samples / RATE) - loop.time()
            if behind > 0:
                await asyncio.sleep(behind)

    async def _send_chunk(self) -> None:
        chunk = np.zeros(CHUNK)
        if self.overlay is not None:
            part = self.overlay[self.overlay_at : self.overlay_at + CHUNK]
            chunk[: len(part)] += part
            self.overlay_at += CHUNK
            if self.overlay_at >= len(self.overlay):
                self.overlay = None
        if self.echo is not None:
            gain, delay = self.echo
            segment = self.playback.segment(self.sent_samples - int(delay * RATE), CHUNK)
            joined = np.concatenate([self.echo_tail, segment])
            self.echo_tail = joined[-(len(KERNEL) - 1) :]
            chunk += np.convolve(joined, KERNEL, mode="valid") * gain
        pcm16 = np.clip(chunk, -32768, 32767).astype("<i2").tobytes()
        await self.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm16).decode()}
        )
        self.sent_samples += CHUNK

    def play(self, clip: Clip) -> float:
        """Start mixing `clip` into the input; returns its speech end on the input timeline."""
        samples = np.frombuffer(resample_pcm16(clip.pcm, SET_RATE, RATE), dtype="<i2")
        self.overlay = samples.astype(np.float64)
        self.overlay_at = 0
        return self.input_ms() + clip.speech_end_ms

    def since(self, mark: int, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events[mark:] if e["type"] == kind]

    def idle(self, mark: int) -> bool:
        """Every response since `mark` finished and nothing plays (tool follow-ups included)."""
        if self.overlay is not None:
            return False
        started = len(self.since(mark, "input_audio_buffer.speech_started"))
        if started != len(self.since(mark, "input_audio_buffer.speech_stopped")):
            return False
        created = len(self.since(mark, "response.created"))
        done = self.since(mark, "response.done")
        if created == 0 or len(done) < created:
            return False
        last = done[-1][1]["response"].get("output") or []
        if any(item.get("type") == "function_call" for item in last):
            return False
        return not self.playback.playing(self.sent_samples)

    async def forget(self) -> None:
        """Delete every conversation item so each trial starts from the same short prompt."""
        for item_id in self.items:
            await self.send({"type": "conversation.item.delete", "item_id": item_id})
        self.items.clear()
        await self.stream(0.3)


async def settle(client: Client, mark: int, limit: float = 25.0) -> None:
    await client.stream(limit, until=lambda: client.idle(mark))
    await client.stream(0.4)


async def utterance_trial(client: Client, clip: Clip) -> dict[str, Any]:
    """A paused or complete utterance: turn ends during the pause, and the first audio time."""
    client.new_answer()
    mark = len(client.events)
    start_ms = client.input_ms()
    speech_end_ms = client.play(clip)
    speech_end_wall = client.clock_origin + speech_end_ms / 1000
    await settle(client, mark)
    stops = [e["audio_end_ms"] for _, e in client.since(mark, "input_audio_buffer.speech_stopped")]
    early = [stop for stop in stops if stop < speech_end_ms - 150]
    audio = client.since(mark, "response.output_audio.delta")
    tool = bool(client.since(mark, "response.function_call_arguments.done"))
    first_audio = audio[0][0] if audio else None
    await client.forget()
    return {
        "name": clip.name,
        "kind": clip.kind,
        "turns": len(stops),
        "early_stop": bool(early),
        "latency_ms": None if first_audio is None else (first_audio - speech_end_wall) * 1000,
        "tool": tool,
        "start_ms": start_ms,
    }


async def ask_long_question(client: Client, question: Clip) -> int:
    """Speak the long question and stream until the answer starts playing; returns the mark."""
    client.new_answer()
    mark = len(client.events)
    client.play(question)
    await client.stream(20.0, until=lambda: client.playback.started_at is not None)
    return mark


async def overlap_trial(
    client: Client,
    question: Clip,
    overlay: Clip | None,
    echo: tuple[float, float] | None,
    offset_s: float,
) -> dict[str, Any]:
    """Ask, then while the answer plays mix `overlay` at `offset_s` and/or the echo."""
    mark = await ask_long_question(client, question)
    if client.playback.started_at is None:
        await settle(client, mark)
        await client.forget()
        return {"valid": False}
    started_events = len(client.events)
    onset_ms = 0.0
    if echo is not None:
        gain, delay = 10 ** (echo[0] / 20), echo[1] / 1000
        client.echo = (gain, delay)
    await client.stream(offset_s)
    valid = client.playback.playing(client.sent_samples)
    if overlay is not None:
        onset_ms = client.input_ms()
        client.play(overlay)
    await settle(client, mark)
    client.echo = None
    client.echo_tail[:] = 0
    started = client.since(started_events, "input_audio_buffer.speech_started")
    interrupted = bool(started)
    delay_ms = None
    if started and overlay is not None:
        delay_ms = (started[0][0] - (client.clock_origin + onset_ms / 1000)) * 1000
    cancelled = any(
        e["response"]["status"] == "cancelled" for _, e in client.since(mark, "response.done")
    )
    await client.forget()
    return {
        "valid": valid,
        "interrupted": interrupted,
        "cancelled": cancelled,
        "name": overlay.name if overlay else f"echo {echo}",
        "delay_ms": delay_ms,
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def turn_detection(mode: str) -> dict[str, Any]:
    if mode == "server_vad":
        return {"type": "server_vad"}
    return {"type": "semantic_vad", "eagerness": mode.partition(":")[2] or "auto"}


KINDS = ("paused", "complete", "backchannel", "noise", "echo", "bargein")


async def run_mode(
    url: str, mode: str, clips: list[Clip], quick: bool, kinds: set[str], repeat: int = 1
) -> dict[str, Any]:
    async with websockets.connect(url + "?model=local", max_size=None) as connection:
        client = Client(connection)
        client.clock_origin = time.monotonic()
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": INSTRUCTIONS,
                    "tools": TOOLS,
                    "tool_choice": "auto",
                    "audio": {"input": {"turn_detection": turn_detection(mode)}},
                },
            }
        )
        await client.stream(6.0)  # the engine prefills the tools' router prompts
        by_kind: dict[str, list[Clip]] = {}
        for clip in clips:
            by_kind.setdefault(clip.kind, []).append(clip)
        limit = 4 if quick else 1000
        results: dict[str, list[dict[str, Any]]] = {}
        for kind in ("paused", "complete"):
            results[kind] = []
            for clip in by_kind[kind][:limit] if kind in kinds else []:
                row = await utterance_trial(client, clip)
                results[kind].append(row)
                latency = row["latency_ms"]
                print(
                    f"  {mode:>20} {clip.name:<12} turns={row['turns']} "
                    f"early={row['early_stop']!s:5} tool={row['tool']!s:5} "
                    f"first audio={'-' if latency is None else f'{latency:.0f} ms'}",
                    flush=True,
                )
        question = Clip("question", "question", LONG_QUESTION, _speak(LONG_QUESTION), 0.0)
        question = Clip(
            question.name, question.kind, question.text, question.pcm, _speech_end(question.pcm)
        )
        results["overlap"] = []
        overlaps = [c for c in by_kind["backchannel"] if "backchannel" in kinds][:limit]
        overlaps += [c for c in by_kind["noise"] if "noise" in kinds][:limit]
        for clip in overlaps * repeat:
            row = await overlap_trial(client, question, clip, None, 0.7)
            results["overlap"].append(row)
            print(f"  {mode:>20} {row}", flush=True)
        results["echo"] = []
        for level, delay in (ECHO_CASES[: max(2, limit)] if "echo" in kinds else []) * repeat:
            row = await overlap_trial(client, question, None, (level, delay), 0.2)
            row["level"] = level
            results["echo"].append(row)
            print(f"  {mode:>20} {row}", flush=True)
        results["barge_in"] = []
        barge_ins = list(enumerate(by_kind["barge_in"][:limit])) if "bargein" in kinds else []
        for index, clip in barge_ins * repeat:
            echo = (-10.0, 120.0) if index % 2 else None
            row = await overlap_trial(client, question, clip, echo, 0.8)
            results["barge_in"].append(row)
            print(f"  {mode:>20} {row}", flush=True)
        client.reader.cancel()
        return results


def _speak(text: str) -> bytes:
    from turn_taking_set import espeak, silence

    return np.concatenate([silence(200), espeak(text, 165, "en-us"), silence(200)]).tobytes()


def _speech_end(pcm: bytes) -> float:
    return (len(pcm) / 2 - SET_RATE * 0.2) * 1000 / SET_RATE


def summary(mode: str, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    paused = results["paused"]
    complete = results["complete"]
    latencies = [r["latency_ms"] for r in complete if r["latency_ms"] is not None]
    spoken = [r["latency_ms"] for r in complete if r["latency_ms"] is not None and not r["tool"]]
    tools = [r["latency_ms"] for r in complete if r["latency_ms"] is not None and r["tool"]]
    overlap = [r for r in results["overlap"] if r.get("valid")]
    echo = [r for r in results["echo"] if r.get("valid")]
    barge = [r for r in results["barge_in"] if r.get("valid")]
    delays = [r["delay_ms"] for r in barge if r.get("delay_ms") is not None]
    return {
        "mode": mode,
        "false_eot": f"{sum(r['early_stop'] for r in paused)}/{len(paused)}",
        "false_eot_rate": sum(r["early_stop"] for r in paused) / max(1, len(paused)),
        "p50_ms": percentile(latencies, 0.5) if latencies else None,
        "p95_ms": percentile(latencies, 0.95) if latencies else None,
        "spoken_p50_ms": statistics.median(spoken) if spoken else None,
        "tool_p50_ms": statistics.median(tools) if tools else None,
        "complete_one_turn": sum(r["turns"] == 1 for r in complete),
        "complete_count": len(complete),
        "lost_answers": f"{sum(r['interrupted'] or r['cancelled'] for r in overlap)}"
        f"/{len(overlap)}",
        "self_interruptions": f"{sum(r['interrupted'] for r in echo)}/{len(echo)}",
        "true_interruptions": f"{sum(r['interrupted'] for r in barge)}/{len(barge)}",
        "barge_in_delay_p50_ms": statistics.median(delays) if delays else None,
        "barge_in_delay_max_ms": max(delays) if delays else None,
    }


async def main_async(arguments: argparse.Namespace) -> int:
    from realtime_agents import demo

    load_before = os.getloadavg()
    server, _engines, load_seconds = await demo.start_local_server("embedded", {})
    print(f"engines loaded in {load_seconds:.1f} s", flush=True)
    clips = build_set()
    kinds = set(arguments.kinds.split(","))
    unknown = kinds - set(KINDS)
    if unknown:
        print(f"unknown kinds {sorted(unknown)}: choose from {','.join(KINDS)}", file=sys.stderr)
        return 2
    summaries = []
    raw: dict[str, Any] = {}
    try:
        for mode in arguments.modes.split(","):
            results = await run_mode(
                server.url, mode, clips, arguments.quick, kinds, arguments.repeat
            )
            raw[mode] = results
            summaries.append(summary(mode, results))
    finally:
        await server.close()
    load_after = os.getloadavg()
    print()
    header = ["mode", "false EOT (paused)", "p50 ms", "p95 ms", "spoken p50", "tool p50"]
    header += ["lost (backch./noise)", "self-interrupt (echo)", "barge-in interrupts"]
    header += ["barge-in delay p50/max ms"]
    print(" | ".join(header))
    for row in summaries:
        cells = [
            row["mode"],
            f"{row['false_eot']} ({100 * row['false_eot_rate']:.0f} %)",
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            _ms(row["spoken_p50_ms"]),
            _ms(row["tool_p50_ms"]),
            row["lost_answers"],
            row["self_interruptions"],
            row["true_interruptions"],
            f"{_ms(row['barge_in_delay_p50_ms'])}/{_ms(row['barge_in_delay_max_ms'])}",
        ]
        print(" | ".join(cells))
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 cores, shared): "
        "latencies are distorted by other work on the machine"
    )
    if arguments.json:
        text = json.dumps({"summary": summaries, "raw": raw}, indent=1)
        await asyncio.to_thread(Path(arguments.json).write_text, text)
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="server_vad,semantic_vad")
    parser.add_argument("--quick", action="store_true", help="a few clips of each kind")
    parser.add_argument("--json", help="write every trial's figures here")
    parser.add_argument("--kinds", default=",".join(KINDS), help="the trials to run")
    parser.add_argument("--repeat", type=int, default=1, help="play each overlap trial N times")
    parser.add_argument("--debug", action="store_true", help="log the turn-taking decisions")
    arguments = parser.parse_args()
    if arguments.debug:
        logging.basicConfig(format="   %(name)s: %(message)s")
        logging.getLogger("realtime_agents.server.turns").setLevel(logging.DEBUG)
    return asyncio.run(main_async(arguments))


if __name__ == "__main__":
    sys.exit(main())
