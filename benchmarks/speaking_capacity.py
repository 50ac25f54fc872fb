"""How many speaking sessions the embedded engines hold: N sessions talking at realtime pace.

    python benchmarks/speaking_capacity.py                      # N = 1, 2, 3, 4, 6; 30 s each
    python benchmarks/speaking_capacity.py --sessions 2,4 --seconds 20
    python benchmarks/speaking_capacity.py --max-concurrent-responses 2   # with a capacity limit
    python benchmarks/speaking_capacity.py --max-concurrent-responses default  # serve's default

Starts `realtime-agents serve --engines embedded` (silero, whisper tiny.en, SmolLM2, piper) in
its own process, loads it once, then for each N connects N sessions that each speak a bundled
question WAV (`--question`, default `capital`) at realtime pace in 20 ms appends, like a live
microphone: the question, then silence while the reply arrives and "plays" (its audio length),
then a pause (`--pause-s`), then the question again, for `--seconds`. Sessions start at
staggered phases (seeded), so turns do not all land at once. Server VAD with
`--silence-ms` (200) of silence (or `--turn-detection semantic_vad`), input transcription on,
audio out.

Per spoken turn (one question sent whole within the window): detected (a `speech_stopped`
arrived after it started and before the next), answered (an audio delta of the response that
turn started), refused (that response ended `failed` with `server_at_capacity`, or an `error`
with that code), and the latency from the end of speech (the send time of the append holding
the last voiced sample) to the first audio delta. A turn that gets nothing within
`--turn-timeout` is left unanswered and the session speaks again.

Prints per N: turns spoken / detected / answered / refused, sessions that got no audio, p50 /
p95 / max of end-of-speech -> speech_stopped and -> first audio, the machine's load average;
then the largest N with p50 end-of-speech -> first audio under 1 s. Exits 0: figures, not
assertions. The cores are shared with whatever else runs: the load average says how much.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import websockets

from realtime_agents import demo

CHUNK_MS = 20
RATE = demo.SAMPLE_RATE
CHUNK_BYTES = RATE * CHUNK_MS // 1000 * 2
REFUSED = "server_at_capacity"


@dataclass
class Turn:
    """One spoken question and what came of it (times on this process's perf_counter)."""

    started: float
    speech_end: float = 0.0
    stopped_at: float | None = None
    response_id: str | None = None
    first_audio: float | None = None
    audio_bytes: int = 0
    done: bool = False
    refused: bool = False


@dataclass
class SessionResult:
    turns: list[Turn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def session_update(silence_ms: int, kind: str = "server_vad") -> str:
    turn_detection: dict[str, object] = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }
    if kind == "semantic_vad":  # the words decide: a transcription at every pause
        turn_detection = {"type": "semantic_vad", "eagerness": "auto"}
    audio_format = {"type": "audio/pcm", "rate": RATE}
    session = {
        "type": "realtime",
        "instructions": demo.INSTRUCTIONS,
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": audio_format,
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": turn_detection,
            },
            "output": {"format": audio_format},
        },
    }
    return json.dumps({"type": "session.update", "session": session})


def append_message(pcm: bytes) -> str:
    audio = base64.b64encode(pcm).decode()
    return json.dumps({"type": "input_audio_buffer.append", "audio": audio})


@dataclass
class InProgress:
    """Responses created and not yet done across the sessions, as the clients see them."""

    now: int = 0
    most: int = 0

    def change(self, step: int) -> None:
        self.now += step
        self.most = max(self.most, self.now)


class Speaker:
    """One session: speaks the question, listens to the reply, pauses, speaks again."""

    def __init__(
        self,
        url: str,
        question: demo.SpokenQuestion,
        args: argparse.Namespace,
        in_progress: InProgress,
    ) -> None:
        self.url = url
        self.in_progress = in_progress
        self.args = args
        pcm = question.pcm + bytes(-len(question.pcm) % CHUNK_BYTES)
        self.chunks = [
            append_message(pcm[i : i + CHUNK_BYTES]) for i in range(0, len(pcm), CHUNK_BYTES)
        ]
        self.voiced_chunk = (question.voiced_end * 2) // CHUNK_BYTES
        self.silence = append_message(bytes(CHUNK_BYTES))
        self.result = SessionResult()
        self.turn: Turn | None = None

    async def run(self, phase_s: float, window_end: float) -> SessionResult:
        headers = {"Authorization": "Bearer benchmark"}
        async with websockets.connect(
            self.url + "?model=local", additional_headers=headers, max_size=None
        ) as ws:
            await ws.send(session_update(self.args.silence_ms, self.args.turn_detection))
            receiver = asyncio.create_task(self._receive(ws))
            try:
                await self._speak(ws, phase_s, window_end)
            finally:
                receiver.cancel()
        return self.result

    async def _speak(self, ws: Any, phase_s: float, window_end: float) -> None:
        clock = time.perf_counter
        next_send = clock()
        chunk_s = CHUNK_MS / 1000

        async def send(message: str) -> float:
            nonlocal next_send
            await asyncio.sleep(max(0.0, next_send - clock()))
            next_send += chunk_s
            await ws.send(message)
            return clock()

        phase_end = clock() + phase_s
        while clock() < phase_end:
            await send(self.silence)
        while clock() + len(self.chunks) * chunk_s < window_end:
            turn = Turn(started=clock())
            self.turn = turn
            for index, chunk in enumerate(self.chunks):
                sent = await send(chunk)
                if index == self.voiced_chunk:
                    turn.speech_end = sent
            self.result.turns.append(turn)
            give_up = turn.speech_end + self.args.turn_timeout
            while clock() < give_up and not (turn.done or turn.refused):
                await send(self.silence)
            if turn.first_audio is not None:  # listen to the reply, as a person would
                playback_end = turn.first_audio + turn.audio_bytes / (2 * RATE)
                while clock() < playback_end:
                    await send(self.silence)
            pause_end = clock() + self.args.pause_s
            while clock() < pause_end:
                await send(self.silence)

    async def _receive(self, ws: Any) -> None:
        async for message in ws:
            now = time.perf_counter()
            event = json.loads(message)
            kind = event["type"]
            turn = self.turn
            if kind == "error":
                error = event.get("error", {})
                self.result.errors.append(str(error.get("code") or error.get("message")))
                if turn is not None and error.get("code") == REFUSED:
                    turn.refused = True
            if kind == "response.created":
                self.in_progress.change(1)
            elif kind == "response.done":
                self.in_progress.change(-1)
            if turn is None:
                continue
            if kind == "input_audio_buffer.speech_stopped" and turn.stopped_at is None:
                turn.stopped_at = now
            elif kind == "response.created" and turn.stopped_at is not None:
                if turn.response_id is None:
                    turn.response_id = event["response"]["id"]
            elif kind == "response.output_audio.delta" and event["response_id"] == turn.response_id:
                if turn.first_audio is None:
                    turn.first_audio = now
                turn.audio_bytes += len(event["delta"]) * 3 // 4
            elif kind == "response.done" and event["response"]["id"] == turn.response_id:
                response = event["response"]
                details = response.get("status_details") or {}
                code = (details.get("error") or {}).get("code")
                turn.refused = code == REFUSED
                turn.done = True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(args: argparse.Namespace, log: TextIO) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "realtime_agents.cli", "serve", "--engines", "embedded"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if args.max_concurrent_responses != "default":
        command += ["--max-concurrent-responses", args.max_concurrent_responses]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("ready: listening on "):
            return server, line.split()[-1]
    raise SystemExit(f"the server exited before it was ready; see {args.server_log}")


async def run_sessions(
    url: str, count: int, args: argparse.Namespace, in_progress: InProgress
) -> list[SessionResult]:
    question = demo.load_question(args.question)
    cycle_s = question.voiced_end / RATE + 3.0
    rng = random.Random(count)
    window_end = time.perf_counter() + args.seconds
    speakers = [Speaker(url, question, args, in_progress) for _ in range(count)]
    phases = [0.0] + [rng.uniform(0, cycle_s) for _ in range(count - 1)]
    return await asyncio.gather(
        *(speaker.run(phase, window_end) for speaker, phase in zip(speakers, phases, strict=True))
    )


def summarize(
    count: int, results: list[SessionResult], most_in_progress: int, load: tuple[float, ...]
) -> dict[str, Any]:
    turns = [turn for result in results for turn in result.turns]
    answered = [turn for turn in turns if turn.first_audio is not None]
    first_audio = [(t.first_audio - t.speech_end) * 1000 for t in answered if t.first_audio]
    stopped = [(t.stopped_at - t.speech_end) * 1000 for t in turns if t.stopped_at is not None]

    def spread(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p95": None, "max": None}
        return {
            "p50": statistics.median(values),
            "p95": percentile(values, 0.95),
            "max": max(values),
        }

    return {
        "sessions": count,
        "spoken": len(turns),
        "detected": sum(turn.stopped_at is not None for turn in turns),
        "answered": len(answered),
        "refused": sum(turn.refused for turn in turns),
        "most_responses_in_progress": most_in_progress,
        "silent_sessions": sum(all(t.first_audio is None for t in r.turns) for r in results),
        "end_to_stopped_ms": spread(stopped),
        "end_to_first_audio_ms": spread(first_audio),
        "other_errors": sorted({e for r in results for e in r.errors if e != REFUSED}),
        "load_average": load,
    }


def print_row(row: dict[str, Any]) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    audio, stopped = row["end_to_first_audio_ms"], row["end_to_stopped_ms"]
    print(
        f"N={row['sessions']}: spoken {row['spoken']}, detected {row['detected']}, "
        f"answered {row['answered']}, refused {row['refused']}, "
        f"sessions without audio {row['silent_sessions']}, "
        f"most responses in progress {row['most_responses_in_progress']}; "
        f"end->speech_stopped p50 {ms(stopped['p50'])} p95 {ms(stopped['p95'])} ms; "
        "end->first audio "
        f"p50 {ms(audio['p50'])} p95 {ms(audio['p95'])} max {ms(audio['max'])} ms; "
        f"load {row['load_average'][0]:.2f}"
        + (f"; errors {row['other_errors']}" if row["other_errors"] else ""),
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    print(f"load average before loading: {os.getloadavg()}", flush=True)
    started = time.perf_counter()
    with open(args.server_log, "w") as log:  # noqa: ASYNC230 (before any session runs)
        server, url = start_server(args, log)
    print(f"embedded server ready in {time.perf_counter() - started:.1f} s at {url}", flush=True)
    rows = []
    try:
        for count in args.sessions:
            in_progress = InProgress()
            results = await run_sessions(url, count, args, in_progress)
            rows.append(summarize(count, results, in_progress.most, os.getloadavg()))
            print_row(rows[-1])
            await asyncio.sleep(2.0)  # let the last replies finish before the next N
    finally:
        server.terminate()
        server.wait(timeout=30)
    held = [
        row["sessions"]
        for row in rows
        if row["end_to_first_audio_ms"]["p50"] is not None
        and row["end_to_first_audio_ms"]["p50"] < 1000
        and row["detected"] == row["spoken"]
    ]
    print(
        f"largest N with every turn detected and p50 end-of-speech -> first audio under 1 s: "
        f"{max(held) if held else 'none'} (limit: {args.max_concurrent_responses}, "
        f"silence {args.silence_ms} ms, {os.cpu_count()} CPUs, load now {os.getloadavg()})"
    )
    if args.json:
        write_json(args.json, {"arguments": vars(args), "rows": rows})


def write_json(path: str, figures: dict[str, Any]) -> None:
    with open(path, "w") as out:
        json.dump(figures, out, indent=1, default=str)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sessions",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2, 3, 4, 6],
        help="comma-separated session counts (default 1,2,3,4,6)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="speaking window per N")
    parser.add_argument("--question", default="capital", help="bundled question or a WAV path")
    parser.add_argument("--silence-ms", type=int, default=200, help="server VAD silence")
    parser.add_argument(
        "--turn-detection",
        choices=["server_vad", "semantic_vad"],
        default="server_vad",
        help="semantic_vad transcribes at every pause to judge the words (auto eagerness)",
    )
    parser.add_argument("--pause-s", type=float, default=1.0, help="pause after each reply")
    parser.add_argument("--turn-timeout", type=float, default=15.0, help="give up on a turn")
    parser.add_argument(
        "--max-concurrent-responses",
        default="0",
        help="the server's limit (default 0: none; 'default': serve's own default)",
    )
    parser.add_argument("--server-log", default="/tmp/speaking_capacity_server.log")
    parser.add_argument("--json", help="write every figure to this file")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
