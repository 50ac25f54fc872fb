"""Soak benchmark: many voice sessions talking for minutes; does anything grow or slow down?

    .venv/bin/python benchmarks/soak.py                      # 200 + 2 sessions, 10 minutes
    .venv/bin/python benchmarks/soak.py --minutes 1 --sessions 20 --speaking 0   # a short run

Two server processes (`realtime_agents.server.serve` in `multiprocessing` children, so their
memory and CPU are their own):

* the scripted engines (energy VAD, canned STT, rule LLM, tone TTS), with `--sessions` sessions;
* the embedded models (silero, faster-whisper, SmolLM2, piper; the `[local]` and `[piper]`
  extras), with `--speaking` sessions (0 skips it and its model loading).

Every session speaks in turns at realtime pace, as a person would, for the whole run:
`input_audio_buffer.append`s of `--chunk-ms` audio (PCM16 24 kHz, server VAD with a 500 ms
silence window, replies created by the server), each turn 400 ms of silence, the speech (a
1.6 s 250 Hz tone for the scripted server, the bundled spoken question "capital" for the
embedded one), then silence until `response.done`, the reply's playback time and a 300 ms gap.
A turn with no `response.done` within 60 s is counted as lost and the session speaks again.

Every minute it prints, per server: the turns completed in that minute, turns failed or lost,
`error` events, the latency from the end of the user's speech (the send time of the append that
ends it) to the reply's first audio delta (p50 and p99; it includes the VAD's 500 ms silence
window, which is audio the server must hear before it may answer), the server's RSS, open file
descriptors, asyncio tasks, threads and CPU (100 % = one core); then the clients' CPU (one
process, one event loop: if it nears 100 %, the clients are the bottleneck) and the machine's
load. The last lines compare the first and last minute. Times are on the client's monotonic
clock.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import multiprocessing as mp
import os
import random
import threading
import time
from dataclasses import dataclass, field
from importlib.resources import files
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import numpy as np
import websockets

RATE = 24_000
LEAD_SILENCE_MS = 400
TONE_MS = 1600
LISTEN_GAP_MS = 300
TURN_TIMEOUT_S = 60.0
SILENCE_WINDOW_MS = 500
TICKS = os.sysconf("SC_CLK_TCK")
SESSION_UPDATE = msgspec.json.encode(
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": RATE},
                    "turn_detection": {
                        "type": "server_vad",
                        "silence_duration_ms": SILENCE_WINDOW_MS,
                        "create_response": True,
                        "interrupt_response": False,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": RATE}},
            },
        },
    }
).decode()


# --------------------------------------------------------------------------- server processes


def process_stats(previous_cpu: list[float]) -> dict[str, float]:
    """This process's RSS (MB), open fds, asyncio tasks, threads and CPU % since the last call."""
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    with open("/proc/self/stat") as stat:
        fields_after_name = stat.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields_after_name[11]) + int(fields_after_name[12])) / TICKS
    now = time.monotonic()
    last_cpu, last_time = previous_cpu
    previous_cpu[:] = [cpu_s, now]
    return {
        "rss_mb": rss_kb / 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "cpu_percent": 100 * (cpu_s - last_cpu) / max(now - last_time, 1e-9),
    }


def server_main(kind: str, max_sessions: int, pipe: Connection) -> None:
    """A child process: a server with `kind` engines; answers "stats" on `pipe` until "stop"."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(_serve(kind, max_sessions, pipe))


async def _serve(kind: str, max_sessions: int, pipe: Connection) -> None:
    from realtime_agents.server import ServerOptions, serve
    from realtime_agents.server.engines.loader import load_engines

    engines = load_engines(kind, {})
    running = await serve("127.0.0.1", 0, engines, ServerOptions(max_sessions=max_sessions))
    previous_cpu = [0.0, time.monotonic()]
    process_stats(previous_cpu)
    pipe.send(running.url)
    while (request := await asyncio.to_thread(pipe.recv)) != "stop":
        assert request == "stats"
        pipe.send(process_stats(previous_cpu))
    await running.close()


@dataclass
class ServerProcess:
    kind: str
    process: Any
    pipe: Connection
    url: str

    @classmethod
    def start(cls, kind: str, max_sessions: int) -> ServerProcess:
        ours, theirs = mp.get_context("spawn").Pipe()
        process = mp.get_context("spawn").Process(
            target=server_main, args=(kind, max_sessions, theirs), daemon=True
        )
        process.start()
        url = ours.recv()
        return cls(kind, process, ours, url)

    def stats(self) -> dict[str, float]:
        self.pipe.send("stats")
        answer: dict[str, float] = self.pipe.recv()
        return answer

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


# --------------------------------------------------------------------------- the sessions


class ResponseInfo(msgspec.Struct):
    status: str = ""


class ErrorInfo(msgspec.Struct):
    message: str = ""


class ServerEvent(msgspec.Struct):
    type: str
    delta: str = ""
    response: ResponseInfo | None = None
    error: ErrorInfo | None = None


DECODE = msgspec.json.Decoder(ServerEvent).decode


@dataclass
class Window:
    """What one server's sessions did in the current minute."""

    completed: int = 0
    failed: int = 0
    lost: int = 0
    errors: int = 0
    disconnects: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_sample: str = ""


@dataclass
class Group:
    """The sessions of one server: their speech, and the current and first minute's figures."""

    name: str
    sessions: int
    speech: list[str]
    """The speech as base64 `--chunk-ms` appends (silence is the `silence` message)."""
    window: Window = field(default_factory=Window)
    history: list[Window] = field(default_factory=list)


class Session:
    """One client: streams turns at realtime pace and times each reply's first audio."""

    def __init__(self, url: str, group: Group, chunk_ms: int, silence: str) -> None:
        self.url = url
        self.group = group
        self.chunk_ms = chunk_ms
        self.silence = silence
        self.speech_end = 0.0
        self.first_audio = False
        self.audio_bytes = 0
        self.done = asyncio.Event()

    async def run(self, stop_at: float, start_delay_s: float) -> None:
        await asyncio.sleep(start_delay_s)
        while time.monotonic() < stop_at:
            try:
                async with websockets.connect(
                    self.url + "?model=local", compression=None, max_size=None
                ) as ws:
                    await ws.send(SESSION_UPDATE)
                    receiver = asyncio.create_task(self.receive(ws))
                    try:
                        await self.speak(ws, stop_at)
                    finally:
                        receiver.cancel()
                return
            except (OSError, websockets.WebSocketException) as error:
                self.group.window.disconnects += 1
                self.group.window.error_sample = f"{type(error).__name__}: {error}"[:200]
                await asyncio.sleep(1.0)

    async def speak(self, ws: Any, stop_at: float) -> None:
        chunk_s = self.chunk_ms / 1000
        next_send = time.monotonic()

        async def send(message: str) -> None:
            nonlocal next_send
            next_send += chunk_s
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))
            await ws.send(message)

        while time.monotonic() < stop_at:
            for _ in range(LEAD_SILENCE_MS // self.chunk_ms):
                await send(self.silence)
            self.done.clear()
            self.first_audio, self.audio_bytes = False, 0
            for chunk in self.group.speech:
                await send(chunk)
            self.speech_end = time.monotonic()
            turn_deadline = self.speech_end + TURN_TIMEOUT_S
            while not self.done.is_set() and time.monotonic() < turn_deadline:
                await send(self.silence)
            if not self.done.is_set():
                self.group.window.lost += 1
            playback_ms = self.audio_bytes / (2 * RATE / 1000) + LISTEN_GAP_MS
            for _ in range(math.ceil(playback_ms / self.chunk_ms)):
                await send(self.silence)

    async def receive(self, ws: Any) -> None:
        async for message in ws:
            event = DECODE(message)
            kind = event.type
            if kind == "response.output_audio.delta":
                if not self.first_audio:
                    self.first_audio = True
                    latency = 1000 * (time.monotonic() - self.speech_end)
                    self.group.window.latencies_ms.append(latency)
                self.audio_bytes += len(event.delta) * 3 // 4
            elif kind == "response.done":
                status = event.response.status if event.response else ""
                if status == "completed":
                    self.group.window.completed += 1
                else:
                    self.group.window.failed += 1
                self.done.set()
            elif kind == "error":
                self.group.window.errors += 1
                if event.error is not None:
                    self.group.window.error_sample = event.error.message[:200]


def append_messages(pcm: bytes, chunk_ms: int) -> list[str]:
    """`input_audio_buffer.append` messages of `chunk_ms` each (the last one padded)."""
    size = chunk_ms * RATE * 2 // 1000
    pcm += bytes(-len(pcm) % size)
    return [
        msgspec.json.encode(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(pcm[i : i + size]).decode(),
            }
        ).decode()
        for i in range(0, len(pcm), size)
    ]


def tone(milliseconds: int) -> bytes:
    t = np.arange(milliseconds * RATE // 1000) / RATE
    return (0.3 * np.sin(2 * np.pi * 250 * t) * 32767).astype("<i2").tobytes()


def spoken_question() -> bytes:
    from realtime_agents.audio import read_wav, resample_pcm16

    pcm, rate = read_wav(str(files("realtime_agents") / "data" / "question_capital.wav"))
    resampled: bytes = resample_pcm16(pcm, rate, RATE)
    return resampled


# --------------------------------------------------------------------------- reporting


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def report_line(minute: float, group: Group, stats: dict[str, float]) -> str:
    window = group.window
    p50, p99 = percentile(window.latencies_ms, 0.5), percentile(window.latencies_ms, 0.99)
    line = (
        f"{minute:5.1f} {group.name:>8} | turns {window.completed:5d} failed {window.failed:3d} "
        f"lost {window.lost:3d} errors {window.errors:3d} dropped {window.disconnects:3d} | "
        f"eos->audio p50 {p50:6.0f} ms p99 {p99:6.0f} ms | "
        f"RSS {stats['rss_mb']:6.0f} MB fds {stats['fds']:4.0f} tasks {stats['tasks']:5.0f}"
        f" threads {stats['threads']:3.0f} CPU {stats['cpu_percent']:4.0f} %"
    )
    if window.error_sample:
        line += f"\n      last error: {window.error_sample}"
    return line


async def soak(args: argparse.Namespace) -> None:
    silence = append_messages(bytes(args.chunk_ms * RATE * 2 // 1000), args.chunk_ms)[0]
    plan: list[tuple[str, int, list[str]]] = [
        ("scripted", args.sessions, append_messages(tone(TONE_MS), args.chunk_ms))
    ]
    if args.speaking:
        plan.append(("embedded", args.speaking, append_messages(spoken_question(), args.chunk_ms)))
    servers: list[tuple[ServerProcess, Group]] = []
    for kind, count, speech in plan:
        if count:
            print(f"starting the {kind} server...", flush=True)
            servers.append((ServerProcess.start(kind, count + 8), Group(kind, count, speech)))
    sessions = sum(count for _, count, _ in plan)
    print(
        f"{sessions} sessions for {args.minutes:g} minutes, {args.chunk_ms} ms appends", flush=True
    )
    start = time.monotonic()
    stop_at = start + 60 * args.minutes
    rng = random.Random(1)
    tasks = [
        asyncio.create_task(
            Session(server.url, group, args.chunk_ms, silence).run(stop_at, rng.uniform(0, 5))
        )
        for server, group in servers
        for _ in range(group.sessions)
    ]
    client_cpu = [0.0, time.monotonic()]
    process_stats(client_cpu)
    firsts: dict[str, dict[str, float]] = {}
    lasts: dict[str, dict[str, float]] = {}
    minute = 0.0
    while minute < args.minutes - 1e-9:
        step = min(1.0, args.minutes - minute)
        await asyncio.sleep(max(0.0, start + 60 * (minute + step) - time.monotonic()))
        minute += step
        for server, group in servers:
            stats = await asyncio.to_thread(server.stats)
            print(report_line(minute, group, stats), flush=True)
            firsts.setdefault(group.name, {**stats, **summary(group.window)})
            lasts[group.name] = {**stats, **summary(group.window)}
            group.history.append(group.window)
            group.window = Window()
        client = process_stats(client_cpu)
        print(
            f"{minute:5.1f} {'clients':>8} | CPU {client['cpu_percent']:4.0f} % RSS "
            f"{client['rss_mb']:4.0f} MB; machine load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    await asyncio.gather(*tasks, return_exceptions=True)
    for server, group in servers:
        first, last = firsts[group.name], lasts[group.name]
        total = sum(window.completed for window in group.history)
        print(
            f"{group.name}: {total} turns; first -> last minute: RSS {first['rss_mb']:.0f} -> "
            f"{last['rss_mb']:.0f} MB, fds {first['fds']:.0f} -> {last['fds']:.0f}, tasks "
            f"{first['tasks']:.0f} -> {last['tasks']:.0f}, eos->audio p99 {first['p99']:.0f} -> "
            f"{last['p99']:.0f} ms",
            flush=True,
        )
        server.stop()


def summary(window: Window) -> dict[str, float]:
    return {"p99": percentile(window.latencies_ms, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--sessions", type=int, default=200, help="scripted sessions (200)")
    parser.add_argument("--speaking", type=int, default=2, help="embedded sessions (2; 0: none)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="audio per append (100 ms)")
    args = parser.parse_args()
    if args.minutes <= 0 or args.sessions < 0 or args.speaking < 0 or args.chunk_ms <= 0:
        parser.error("--minutes and --chunk-ms must be positive, session counts not negative")
    asyncio.run(soak(args))


if __name__ == "__main__":
    main()
