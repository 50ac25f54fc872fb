"""Load benchmark of the local realtime server: many concurrent voice sessions at realtime pace.

    .venv/bin/python benchmarks/server_load.py              # 500 sessions, 3 turns (17.8 s) each
    .venv/bin/python benchmarks/server_load.py --quick      # 50 sessions, 2 turns (< 30 s)
    .venv/bin/python benchmarks/server_load.py --sessions 100 --seconds 10 --chunk-ms 20
    .venv/bin/python benchmarks/server_load.py --loop uvloop            # one uvloop server process
    .venv/bin/python benchmarks/server_load.py --workers 2 --loop uvloop  # two server processes

`--workers N` runs N server processes on one port (SO_REUSEPORT; CPU is their sum, loop lag
is then not measured); `--loop uvloop` needs the `fast` extra.

The server (`realtime_agents.server.app.serve` with the scripted engine set: energy VAD,
canned STT, rule LLM, tone TTS, no artificial delays) runs in its own process, so its CPU is
its own. The clients run on one event loop per client process (`--clients`, default 1;
`--loop` picks their loop too) and are kept cheap, since they share the cores with the server:
each is a `websockets` connection (no compression) for the handshake, `session.update` and the
close, but the appends are framed and masked once per process (two messages: silence and
tone; every append is the same bytes, with one fixed mask key) and written straight to the
socket's transport from timer callbacks (`loop.call_at`, no task or `send()` per append), and
server events are taken in the socket callback (`_wsdirect.DirectClientConnection`).

Each session sends `session.update` (server_vad with 500 ms silence, PCM16 24 kHz in and
out), then streams `input_audio_buffer.append`s at realtime pace (`--chunk-ms`, default 40,
of audio every `--chunk-ms`), for whole turns of: 400 ms of silence, 1.6 s of "speech" (a
250 Hz tone far above the energy VAD's threshold), then silence for the VAD's 500 ms window,
the reply's playback time (40 ms of tone per reply character: 3.04 s for the default reply)
and a 300 ms gap, rounded up to 160 ms: 5.92 s per turn. The user listens to the reply
before speaking again, as a person would; the reply itself arrives as fast as the server
makes it. Connections are staggered over the first second; each session also starts its
first turn after a random phase (0 to one turn, in 160 ms steps) so turns do not all land in
the same second (`--sync-turns` puts every session in phase: the worst-case burst).

What is measured (all times on the client's monotonic clock, in the client process):

* event latency (the target): for `input_audio_buffer.speech_started` and
  `input_audio_buffer.speech_stopped`, receive time (taken when the socket callback hands
  over the event) minus the send time (taken just before the append's transport write) of
  the append that triggered the event. Which append that is comes from running the server's
  own VAD classes (`_VadRunner`, `TurnDetector`) over the same audio offline, so the figure
  is the server's turn-around (socket, JSON, base64, resampling, VAD, protocol core, send)
  plus the loopback and client receive time, without the audio buffering that the VAD needs
  by design (the 500 ms silence window is audio the server must wait for; it is not
  latency). Each event's `audio_start_ms`/`audio_end_ms` is checked against that offline run.
* `speech_stopped -> response.created` receipt gap (the core emits both in one batch),
  `speech_stopped -> first response.output_audio.delta` (STT, LLM and TTS worker-thread
  hops) and `response.created -> response.done`.
* playback underruns: a client that starts playing at the first audio delta of a response
  needs delta k by then + the audio duration of deltas 0..k-1; a later delta is an underrun
  (the scripted TTS is faster than realtime, so any underrun is a server stall).
* pacing lag: how late the client sent each append versus its realtime schedule (if this is
  large, the client, not the server, is the bottleneck: use `--clients 2`). uvloop's timers
  and loop clock have 1 ms resolution, so with `--loop uvloop` this is in whole ms.
* loop lag of the server's and the clients' event loops (a 10 ms sleep's oversleep).
* CPU % of the server process and of the client processes over the full-load window (all
  sessions streaming), from /proc/PID/stat (100 % = one core), and the machine's load.

A session "completes" when it received, for every turn, speech_started, speech_stopped
with the expected timeline positions and a `completed` response.done, and no error event.
The script prints PASS/FAIL for p99 event latency < 20 ms and exits 0 regardless.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import dataclasses
import gc
import io
import math
import multiprocessing as mp
import os
import pstats
import random
import sys
import time
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import numpy as np
import websockets
from websockets.utils import apply_mask

from realtime_agents._wsdirect import DirectClientConnection, frame_head

RATE = 24000
LEAD_SILENCE_MS = 400
SPEECH_MS = 1600
SILENCE_DURATION_MS = 500
PREFIX_PADDING_MS = 300
LISTEN_GAP_MS = 300
"""Silence after the reply has played before the user speaks again."""
PHASE_STEP_MS = 160
"""Session phases are multiples of this (each phase's VAD events are simulated once)."""
TONE_HZ = 250.0
TTS_MS_PER_CHARACTER = 40.0
"""The scripted tone TTS's reply duration per character (`ToneTts.ms_per_character`)."""
TARGET_P99_MS = 20.0
DRAIN_TIMEOUT_S = 5.0
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the audio plan


@dataclass(frozen=True)
class Plan:
    """The audio one session streams and the VAD events the server must answer with."""

    chunk_ms: int
    speech: list[bool]
    """Per append: tone (True) or silence (False)."""
    started: list[tuple[int, int]]
    """(index of the triggering append, audio_start_ms) per expected speech_started."""
    stopped: list[tuple[int, int]]
    """(index of the triggering append, audio_end_ms) per expected speech_stopped."""

    @property
    def turns(self) -> int:
        return len(self.stopped)

    @property
    def seconds(self) -> float:
        return len(self.speech) * self.chunk_ms / 1000


def trail_ms_for(reply: str | None) -> int:
    """Silence after speech: the VAD's silence window, the reply played back, a short gap."""
    from realtime_agents.server.engines.scripted import DEFAULT_REPLY

    reply_ms = len((reply or DEFAULT_REPLY).strip()) * TTS_MS_PER_CHARACTER
    trail = SILENCE_DURATION_MS + reply_ms + LISTEN_GAP_MS
    cycle = math.ceil((LEAD_SILENCE_MS + SPEECH_MS + trail) / PHASE_STEP_MS) * PHASE_STEP_MS
    return cycle - LEAD_SILENCE_MS - SPEECH_MS


def chunk_bytes(chunk_ms: int, speech: bool) -> bytes:
    """One append's PCM16: a tone whose period divides the chunk (so every chunk is equal)."""
    n = RATE * chunk_ms // 1000
    if not speech:
        return bytes(2 * n)
    t = np.arange(n) / RATE
    return (0.3 * np.sin(2 * math.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes()


def make_plan(cycles: int, trail_ms: int, chunk_ms: int, offset_ms: int = 0) -> Plan:
    """`cycles` turns after `offset_ms` of silence; the triggering append of each VAD event is
    found by running the server's own VAD runner and turn detector over the same appends."""
    from realtime_agents.server.effects import AnalyzeAudio
    from realtime_agents.server.engines.scripted import scripted_engine_set
    from realtime_agents.server.input_audio import SpeechStarted, SpeechStopped, TurnDetector
    from realtime_agents.server.pipeline import _VadRunner

    cycle_ms = LEAD_SILENCE_MS + SPEECH_MS + trail_ms
    assert offset_ms % chunk_ms == 0
    assert all(ms % chunk_ms == 0 for ms in (LEAD_SILENCE_MS, SPEECH_MS, trail_ms))
    assert (chunk_ms * TONE_HZ / 1000).is_integer()
    speech = [False] * (offset_ms // chunk_ms)
    for _ in range(cycles):
        for start in range(0, cycle_ms, chunk_ms):
            speech.append(LEAD_SILENCE_MS <= start < LEAD_SILENCE_MS + SPEECH_MS)
    runner = _VadRunner(scripted_engine_set(), inline=True)
    detector = TurnDetector(0.5, PREFIX_PADDING_MS, SILENCE_DURATION_MS)
    started: list[tuple[int, int]] = []
    stopped: list[tuple[int, int]] = []
    chunks = {flag: chunk_bytes(chunk_ms, flag) for flag in (False, True)}
    for index, flag in enumerate(speech):
        effect = AnalyzeAudio(chunks[flag], "pcm16", float(index * chunk_ms))
        for start_ms, end_ms, probability in runner.analyze(effect):
            change = detector.frame(start_ms, end_ms, probability)
            if isinstance(change, SpeechStarted):
                started.append((index, change.audio_start_ms))
            elif isinstance(change, SpeechStopped):
                stopped.append((index, change.audio_end_ms))
    assert len(started) == len(stopped) == cycles, (started, stopped)
    return Plan(chunk_ms, speech, started, stopped)


def append_message(chunk_ms: int, speech: bool) -> str:
    audio = base64.b64encode(chunk_bytes(chunk_ms, speech)).decode("ascii")
    return msgspec.json.encode({"type": "input_audio_buffer.append", "audio": audio}).decode()


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
                        "threshold": 0.5,
                        "prefix_padding_ms": PREFIX_PADDING_MS,
                        "silence_duration_ms": SILENCE_DURATION_MS,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": RATE}},
            },
        },
    }
).decode()


# --------------------------------------------------------------------------- helpers


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (all its threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=np.float64) * 1000
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"n": len(values), "p50": p50, "p95": p95, "p99": p99, "max": float(arr.max())}


def fmt(stats: dict[str, float]) -> str:
    if not stats.get("n"):
        return "n=0"
    return (
        f"p50 {stats['p50']:7.2f}  p95 {stats['p95']:7.2f}  p99 {stats['p99']:7.2f}  "
        f"max {stats['max']:8.2f} ms  (n={int(stats['n'])})"
    )


async def loop_lag_monitor(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(period)
        lags.append(max(0.0, time.monotonic() - before - period))


# --------------------------------------------------------------------------- server process


def server_process(
    conn: Connection,
    max_sessions: int,
    reply: str | None,
    profile: bool,
    workers: int = 1,
    event_loop: str = "asyncio",
) -> None:
    """Run the server with scripted engines until the parent says stop; report loop lag.

    With `workers` > 1 this process only supervises the worker processes (whose pids it
    reports for the CPU figures); its own loop lag is then not the servers'."""
    import functools

    from realtime_agents.server.app import ServerOptions, serve
    from realtime_agents.server.engines.scripted import scripted_engine_set
    from realtime_agents.server.workers import run_loop, serve_workers

    async def main() -> dict[str, Any]:
        options: dict[str, Any] = {} if reply is None else {"reply": reply}
        server_options = ServerOptions(max_sessions=max_sessions, ping_interval=None)
        if workers > 1:
            load = functools.partial(scripted_engine_set, **options)
            # each worker may take every session: the kernel's SO_REUSEPORT hash is uneven
            options_n = dataclasses.replace(
                server_options, workers=workers, max_sessions=max_sessions * workers
            )
            pool = await serve_workers("127.0.0.1", 0, load, options_n, event_loop=event_loop)
            conn.send((pool.port, pool.pids))
            await asyncio.to_thread(conn.recv)
            await pool.close()
            return {"loop_lag": percentiles([])}
        engines = scripted_engine_set(**options)
        server = await serve("127.0.0.1", 0, engines, server_options)
        lags: list[float] = []
        stop = asyncio.Event()
        monitor = asyncio.create_task(loop_lag_monitor(lags, stop))
        conn.send((server.port, [os.getpid()]))
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_reader(conn.fileno(), done.set)
        await done.wait()
        loop.remove_reader(conn.fileno())
        conn.recv()
        stop.set()
        await monitor
        await server.close()
        return {"loop_lag": percentiles(lags)}

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    result = run_loop(main(), event_loop if workers == 1 else "asyncio")
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        result["profile"] = out.getvalue()
    conn.send(result)


# --------------------------------------------------------------------------- client process


class StatusDetails(msgspec.Struct):
    reason: str | None = None


class ResponseInfo(msgspec.Struct):
    status: str | None = None
    status_details: StatusDetails | None = None


class ServerEvent(msgspec.Struct):
    type: str
    audio_start_ms: int | None = None
    audio_end_ms: int | None = None
    delta: str | None = None
    response: ResponseInfo | None = None


@dataclass
class Results:
    """What one client process measured (latencies in seconds)."""

    started_latency: list[float] = field(default_factory=list)
    stopped_latency: list[float] = field(default_factory=list)
    created_gap: list[float] = field(default_factory=list)
    first_audio: list[float] = field(default_factory=list)
    response_time: list[float] = field(default_factory=list)
    pacing_lag: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    sessions: int = 0
    completed: int = 0
    turns_expected: int = 0
    responses_completed: int = 0
    responses_other: int = 0
    deltas: int = 0
    underruns: int = 0
    mismatches: int = 0
    error_events: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    """response.done statuses other than `completed` (with the reason when there is one)."""


_decoder = msgspec.json.Decoder(ServerEvent)


def masked_frame(text: str) -> bytes:
    """A complete, masked WebSocket text frame (client to server) carrying `text`.

    Each append message is framed and masked once; every session sends the same bytes (one
    fixed mask key per message: valid framing, only the RFC's per-frame key randomness, a
    defence for browsers behind proxies, is skipped)."""
    payload = text.encode()
    key = os.urandom(4)
    return frame_head(len(payload), mask_bit=0x80) + key + apply_mask(payload, key)


class SessionClient:
    """One voice session's client state: the events it expects, what it measured."""

    def __init__(self, plan: Plan, results: Results) -> None:
        self.plan = plan
        self.results = results
        self.sent_at: list[float | None] = [None] * len(plan.speech)
        self.started = 0
        self.stopped = 0
        self.done = 0
        self.stopped_at = 0.0
        self.created_at = 0.0
        self.first_audio_at: float | None = None
        self.audio_ms = 0.0
        self.ok = True
        loop = asyncio.get_running_loop()
        self.greeted: asyncio.Future[str] = loop.create_future()
        self.updated: asyncio.Future[str] = loop.create_future()
        self.all_done: asyncio.Future[None] = loop.create_future()

    def triggered(
        self, expected: list[tuple[int, int]], index: int, position: int | None, now: float
    ) -> float | None:
        if index >= len(expected):
            self.results.mismatches += 1
            self.ok = False
            return None
        append_index, audio_ms = expected[index]
        sent = self.sent_at[append_index]
        if sent is None or position != audio_ms:
            self.results.mismatches += 1
            self.ok = False
            return None
        return now - sent

    def sink(self, raw: bytes, is_text: bool) -> None:
        """Every server event, straight from the socket callback (receipt time taken here)."""
        now = time.monotonic()
        results, plan = self.results, self.plan
        event = _decoder.decode(raw)
        kind = event.type
        if kind == "response.output_audio.delta":
            results.deltas += 1
            delta = event.delta or ""
            audio_ms = (len(delta) * 3 // 4 - delta[-2:].count("=")) / (2 * RATE / 1000)
            if self.first_audio_at is None:
                self.first_audio_at = now
                results.first_audio.append(now - self.stopped_at)
            elif now > self.first_audio_at + self.audio_ms / 1000:
                results.underruns += 1
            self.audio_ms += audio_ms
        elif kind == "input_audio_buffer.speech_started":
            latency = self.triggered(plan.started, self.started, event.audio_start_ms, now)
            self.started += 1
            if latency is not None:
                results.started_latency.append(latency)
        elif kind == "input_audio_buffer.speech_stopped":
            latency = self.triggered(plan.stopped, self.stopped, event.audio_end_ms, now)
            self.stopped += 1
            self.stopped_at = now
            if latency is not None:
                results.stopped_latency.append(latency)
        elif kind == "response.created":
            results.created_gap.append(now - self.stopped_at)
            self.created_at = now
            self.first_audio_at = None
            self.audio_ms = 0.0
        elif kind == "response.done":
            status = event.response.status if event.response else None
            if status == "completed":
                results.responses_completed += 1
            else:
                results.responses_other += 1
                details = event.response.status_details if event.response else None
                key = f"{status}/{details.reason if details else None}"
                results.statuses[key] = results.statuses.get(key, 0) + 1
                self.ok = False
            results.response_time.append(now - self.created_at)
            self.done += 1
            if self.done >= plan.turns and not self.all_done.done():
                self.all_done.set_result(None)
        elif kind == "session.created" and not self.greeted.done():
            self.greeted.set_result(kind)
        elif kind == "session.updated" and not self.updated.done():
            self.updated.set_result(kind)
        elif kind == "error":
            results.error_events += 1
            self.ok = False
            for waiter in (self.greeted, self.updated):
                if not waiter.done():
                    waiter.set_result(kind)

    def stream(
        self, transport: asyncio.Transport, frames: dict[bool, bytes]
    ) -> asyncio.Future[None]:
        """Write the plan's appends at realtime pace from timer callbacks (no task per send)."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        speech, sent_at, pacing = self.plan.speech, self.sent_at, self.results.pacing_lag
        step = self.plan.chunk_ms / 1000
        t0 = loop.time() + 0.001

        def send(index: int) -> None:
            if transport.is_closing():
                finished.set_result(None)
                return
            due = t0 + index * step
            pacing.append(max(0.0, loop.time() - due))
            sent_at[index] = time.monotonic()
            transport.write(frames[speech[index]])
            if index + 1 < len(speech):
                loop.call_at(due + step, send, index + 1)
            else:
                finished.set_result(None)

        loop.call_at(t0, send, 0)
        return finished


async def run_session(
    url: str, plan: Plan, frames: dict[bool, bytes], start_at: float, results: Results
) -> None:
    """One voice session: connect, configure, stream the plan at realtime pace, check replies."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    client = SessionClient(plan, results)
    results.sessions += 1
    results.turns_expected += plan.turns
    try:
        async with websockets.connect(
            url,
            max_size=None,
            ping_interval=None,
            compression=None,
            open_timeout=30,
            create_connection=DirectClientConnection,
        ) as ws:
            assert isinstance(ws, DirectClientConnection)
            ws.attach(lambda: True, client.sink)
            first = await client.greeted
            assert first == "session.created", first
            await ws.send(SESSION_UPDATE)
            updated = await client.updated
            assert updated == "session.updated", updated
            await client.stream(ws.transport, frames)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(client.all_done), DRAIN_TIMEOUT_S)
        complete = (
            client.ok
            and client.started == client.stopped == plan.turns
            and client.done == plan.turns
        )
        if complete:
            results.completed += 1
        elif len(results.failures) < 5:
            results.failures.append(
                f"incomplete: started {client.started} stopped {client.stopped} "
                f"done {client.done} of {plan.turns}"
            )
    except Exception as error:  # counted and reported, the other sessions go on
        if len(results.failures) < 5:
            results.failures.append(f"{type(error).__name__}: {error}")


def client_process(
    conn: Connection,
    url: str,
    schedule: list[tuple[float, int]],
    plans: dict[int, Plan],
    chunk_ms: int,
    event_loop: str = "asyncio",
) -> None:
    """Run sessions given as (monotonic start time, phase ms) and send back the Results."""
    from realtime_agents.server.workers import run_loop

    frames = {flag: masked_frame(append_message(chunk_ms, flag)) for flag in (False, True)}
    gc.freeze()  # as the server's workers do: full collections skip the startup heap

    async def main() -> Results:
        results = Results()
        stop = asyncio.Event()
        monitor = asyncio.create_task(loop_lag_monitor(results.loop_lag, stop))
        await asyncio.gather(
            *(run_session(url, plans[phase], frames, at, results) for at, phase in schedule)
        )
        stop.set()
        await monitor
        return results

    conn.send(run_loop(main(), event_loop))


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="audio per session (whole turns)"
    )
    parser.add_argument("--quick", action="store_true", help="50 sessions, 2 turns (smoke run)")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--chunk-ms", type=int, default=40, choices=(20, 40, 100))
    parser.add_argument("--stagger", type=float, default=1.0, help="start spread, seconds")
    parser.add_argument(
        "--sync-turns",
        action="store_true",
        help="every session in the same turn phase (worst-case bursts; default: random phase)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reply", default=None, help="scripted LLM reply (default: built-in)")
    parser.add_argument("--profile", action="store_true", help="cProfile the server loop")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes on one port (SO_REUSEPORT)"
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.seconds = 50, 10.0

    trail_ms = trail_ms_for(args.reply)
    cycle_ms = LEAD_SILENCE_MS + SPEECH_MS + trail_ms
    cycles = max(1, round(args.seconds * 1000 / cycle_ms))
    plan = make_plan(cycles, trail_ms, args.chunk_ms)
    stream_s = plan.seconds
    print(
        f"server_load: {args.sessions} sessions x {plan.turns} turns ({stream_s:.1f} s of audio, "
        f"{'in phase' if args.sync_turns else 'random phase'}, {args.chunk_ms} ms appends), "
        f"{args.clients} client process(es), {os.cpu_count()} CPUs, load {loadavg()}",
        flush=True,
    )

    ctx = mp.get_context("spawn")
    server_end, server_conn = ctx.Pipe()
    server = ctx.Process(
        target=server_process,
        args=(server_conn, args.sessions + 16, args.reply, args.profile, args.workers, args.loop),
        daemon=args.workers == 1,  # a daemonic process cannot start the worker processes
    )
    server.start()
    server_conn.close()  # so a crashed server raises EOFError here instead of hanging
    port, server_pids = server_end.recv()
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=local"
    print(f"server pid(s) {server_pids} on {url}", flush=True)

    rng = random.Random(args.seed)
    phases = range(0, cycle_ms, PHASE_STEP_MS)
    schedule = sorted(
        (rng.uniform(0, args.stagger), 0 if args.sync_turns else rng.choice(phases))
        for _ in range(args.sessions)
    )
    plans = {
        phase: make_plan(cycles, trail_ms, args.chunk_ms, phase)
        for phase in sorted({phase for _, phase in schedule})
    }
    start_at = time.monotonic() + 1.5  # time for the client processes to start
    clients = []
    for i in range(args.clients):
        mine = [(start_at + offset, phase) for offset, phase in schedule[i :: args.clients]]
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(
            target=client_process,
            args=(child_end, url, mine, plans, args.chunk_ms, args.loop),
            daemon=True,
        )
        process.start()
        child_end.close()
        clients.append((process, parent_end))

    # CPU over the full-load window: every session connected and streaming.
    window_start = start_at + args.stagger + 0.5
    window_end = start_at + stream_s - 0.2
    pids = [*server_pids] + [p.pid for p, _ in clients]
    assert all(pid is not None for pid in pids)
    window = window_end - window_start
    cpu_before = cpu_after = [(0.0, 0.0)] * len(pids)
    busy_before = busy_after = (0.0, 0.0)
    if window > 0.5:
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu_before = [cpu_seconds(pid) for pid in pids]  # type: ignore[arg-type]
        busy_before = machine_busy()
        t_before = time.monotonic()
        time.sleep(max(0.0, window_end - time.monotonic()))
        cpu_after = [cpu_seconds(pid) for pid in pids]  # type: ignore[arg-type]
        busy_after = machine_busy()
        window = time.monotonic() - t_before

    results: list[Results] = [conn.recv() for _, conn in clients]
    load_after = loadavg()
    for process, _ in clients:
        process.join()
    server_end.send("stop")
    server_report = server_end.recv()
    server.join(timeout=10)

    merged = Results()
    for r in results:
        for item in fields(Results):
            value = getattr(r, item.name)
            if isinstance(value, list):
                getattr(merged, item.name).extend(value)
            elif isinstance(value, dict):
                for key, count in value.items():
                    merged.statuses[key] = merged.statuses.get(key, 0) + count
            else:
                setattr(merged, item.name, getattr(merged, item.name) + value)

    def pct(after: tuple[float, float], before: tuple[float, float]) -> tuple[float, float]:
        if window <= 0:
            return float("nan"), float("nan")
        return 100 * (after[0] - before[0]) / window, 100 * (after[1] - before[1]) / window

    ns = len(server_pids)
    server_user, server_sys = pct(
        (sum(a[0] for a in cpu_after[:ns]), sum(a[1] for a in cpu_after[:ns])),
        (sum(b[0] for b in cpu_before[:ns]), sum(b[1] for b in cpu_before[:ns])),
    )
    client_cpu = [sum(pct(a, b)) for a, b in zip(cpu_after[ns:], cpu_before[ns:], strict=True)]
    machine = (
        100 * (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
        if busy_after[1] > busy_before[1]
        else float("nan")
    )
    event_stats = percentiles(merged.started_latency + merged.stopped_latency)

    print()
    print(
        f"sessions completed     {merged.completed}/{args.sessions}  (turns expected "
        f"{merged.turns_expected}, responses completed {merged.responses_completed}, "
        f"other {merged.responses_other}{' ' + str(merged.statuses) if merged.statuses else ''})"
    )
    print(
        f"errors                 error events {merged.error_events}, VAD mismatches "
        f"{merged.mismatches}, failed sessions {merged.sessions - merged.completed}"
    )
    for failure in merged.failures[:5]:
        print(f"                         {failure}")
    print("event latency (append sent -> VAD event received)")
    print(f"  all VAD events       {fmt(event_stats)}")
    print(f"  speech_started       {fmt(percentiles(merged.started_latency))}")
    print(f"  speech_stopped       {fmt(percentiles(merged.stopped_latency))}")
    print("responses (from speech_stopped received)")
    print(f"  -> response.created  {fmt(percentiles(merged.created_gap))}")
    print(f"  -> first audio delta {fmt(percentiles(merged.first_audio))}")
    print(f"  created -> done      {fmt(percentiles(merged.response_time))}")
    print(f"  audio deltas {merged.deltas}, playback underruns {merged.underruns}")
    print("load")
    print(
        f"  server CPU           {server_user + server_sys:.0f}% of one core (user "
        f"{server_user:.0f}%, system {server_sys:.0f}%; full-load window {window:.1f} s)"
    )
    print(f"  client CPU           {' + '.join(f'{c:.0f}%' for c in client_cpu)}")
    print(f"  machine busy         {machine:.0f}% of {os.cpu_count()} CPUs; load {load_after}")
    print(f"  server loop lag      {fmt(server_report['loop_lag'])}")
    print(f"  client loop lag      {fmt(percentiles(merged.loop_lag))}")
    print(f"  client pacing lag    {fmt(percentiles(merged.pacing_lag))}")
    if "profile" in server_report:
        print(server_report["profile"])
    p99 = event_stats.get("p99", float("inf"))
    verdict = "PASS" if p99 < TARGET_P99_MS and merged.completed == args.sessions else "FAIL"
    print(
        f"\n{verdict}: p99 event latency {p99:.2f} ms (target < {TARGET_P99_MS:.0f} ms) with "
        f"{merged.completed}/{args.sessions} sessions completed"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
