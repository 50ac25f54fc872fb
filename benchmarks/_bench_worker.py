"""One library under test, in a fresh process: `_bench_worker.py SCENARIO LIB PORT PARAMS_JSON`.

LIB is `theirs` (openai-agents, `agents.realtime.openai_realtime`) or `ours`
(`realtime_agents.providers.openai`). Only that library is imported. Prints one JSON line.

Scenarios:
* `cpu`: one session. (1) a burst of N audio deltas: client process CPU from the trigger until
  the listener has counted N `audio` events and the `turn_ended`, divided by N. (2) `sends` raw
  `response.create` sends: CPU of the awaited `send_event` plus a drain until every task it
  spawned has finished (so the frame has been written to the socket); the server's
  `response.created`/`response.done` are received outside the timed window.
* `sessions`: warm up one session, then open `sessions` idle ones one by one: RSS growth per
  session. Then two paced runs on all of them (turns spread over 1 s; turns all at once with a
  head burst): listener latency = receive time - the server's send stamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import websockets
from websockets.frames import Frame, Opcode


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> None:
    """Reset VmHWM (the peak RSS) to the current RSS (Linux clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def load_lib(lib: str) -> tuple[Any, Any, Any]:
    """(model class, listener base class, raw response.create send event)."""
    if lib == "theirs":
        from agents.realtime.model import RealtimeModelListener
        from agents.realtime.model_inputs import RealtimeModelSendRawMessage
        from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel

        raw = RealtimeModelSendRawMessage(message={"type": "response.create"})
        return OpenAIRealtimeWebSocketModel, RealtimeModelListener, raw
    from realtime_agents.inputs import RealtimeModelSendRawMessage as OurRaw
    from realtime_agents.model import RealtimeModelListener as OurListener
    from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel as Ours

    return Ours, OurListener, OurRaw({"type": "response.create"})


_LISTENER_CLASSES: dict[type, type] = {}


def make_listener(base: type) -> Any:
    """A counting listener; its class is made once (a class per session would cost ~4 KiB)."""
    cls = _LISTENER_CLASSES.get(base)
    if cls is None:
        cls = _LISTENER_CLASSES[base] = _listener_class(base)
    return cls()


def _listener_class(base: type) -> type:
    class Listener(base):  # type: ignore[misc, valid-type]
        """Counts audio events; optionally records stamp latencies; notes turn ends."""

        def __init__(self) -> None:
            self.audio = 0
            self.turns = 0
            self.raw = 0
            self.seen = asyncio.Event()
            self.turn_done = asyncio.Event()
            self.latencies: list[int] | None = None
            self.types: dict[str, int] = {}

        async def on_event(self, event: Any) -> None:
            kind = event.type
            if kind == "audio":
                self.audio += 1
                lat = self.latencies
                if lat is not None:
                    lat.append(time.time_ns() - int.from_bytes(event.data[:8], "little"))
                return
            self.seen.set()
            if kind == "raw_server_event":
                self.raw += 1
                return
            self.types[kind] = self.types.get(kind, 0) + 1
            if kind == "turn_ended":
                self.turns += 1
                self.turn_done.set()

    return Listener


class Control:
    def __init__(self, port: int) -> None:
        self.port = port
        self.ws: Any = None

    async def __aenter__(self) -> Control:
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/control", max_size=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, **cmd: Any) -> None:
        await self.ws.send(json.dumps(cmd))

    async def reply(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), 600))  # type: ignore[no-any-return]

    async def call(self, **cmd: Any) -> dict[str, Any]:
        await self.send(**cmd)
        return await self.reply()


async def open_session(lib: str, port: int, model_cls: Any, listener_cls: Any) -> tuple[Any, Any]:
    model = model_cls()
    listener = make_listener(listener_cls)
    model.add_listener(listener)
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=x"
    await model.connect({"url": url, "api_key": "sk-test"})
    await asyncio.wait_for(listener.seen.wait(), 30)
    return model, listener


async def drain(base: int) -> float:
    """CPU seconds spent running until every task started since `base` was counted has finished.

    Theirs sends `response.create` from a background task, which this runs to completion (the
    frame is then written). Ours writes inside the awaited `send_event` (it awaits `websockets`'
    send), so there is nothing to drain. The check itself (~2 us) is not charged when no task
    was started.
    """
    if len(asyncio.all_tasks()) <= base:
        return 0.0
    c0 = time.process_time()
    for _ in range(10_000):
        await asyncio.sleep(0)
        if len(asyncio.all_tasks()) <= base:
            break
    return time.process_time() - c0


@contextlib.contextmanager
def profiled(name: str) -> Iterator[None]:
    """With BENCH_PROFILE=prefix, cProfile this section into prefix.NAME.pstats."""
    prefix = os.environ.get("BENCH_PROFILE")
    if not prefix:
        yield
        return
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        prof.dump_stats(f"{prefix}.{name}.pstats")


async def scenario_cpu(lib: str, port: int, p: dict[str, Any]) -> dict[str, Any]:
    model_cls, listener_cls, raw = load_lib(lib)
    out: dict[str, Any] = {}
    async with Control(port) as ctl:
        model, lst = await open_session(lib, port, model_cls, listener_cls)
        await ctl.call(cmd="wait", n=1)
        await asyncio.sleep(0.3)
        # Warm-up turn (lazy imports, adapters), untimed.
        lst.turn_done.clear()
        await ctl.call(cmd="burst", n=200)
        await asyncio.wait_for(lst.turn_done.wait(), 60)
        n = p["burst"]
        gc.collect()
        lst.audio = 0
        lst.turn_done.clear()
        w0, c0 = time.perf_counter(), time.process_time()
        with profiled("burst"):
            await ctl.send(cmd="burst", n=n)
            while lst.audio < n or not lst.turn_done.is_set():
                await asyncio.wait_for(lst.turn_done.wait(), 600)
                if lst.audio < n:
                    lst.turn_done.clear()
        c1, w1 = time.process_time(), time.perf_counter()
        await ctl.reply()
        out["burst_n"] = lst.audio
        out["cpu_us_per_delta"] = (c1 - c0) / lst.audio * 1e6
        out["burst_wall_s"] = w1 - w0
        out["burst_cpu_share"] = (c1 - c0) / (w1 - w0)
        # Raw response.create sends.
        total = 0.0
        sends = p["sends"]
        with profiled("send"):
            for _ in range(sends):
                lst.turn_done.clear()
                base = len(asyncio.all_tasks())
                c0 = time.process_time()
                await model.send_event(raw)
                total += time.process_time() - c0
                total += await drain(base)
                await asyncio.wait_for(lst.turn_done.wait(), 30)
                for _ in range(3):
                    await asyncio.sleep(0)
        out["send_us"] = total / sends * 1e6
        out["write_floor_us"] = await socket_write_floor(ctl)
        out["event_types"] = {**lst.types, "raw_server_event": lst.raw}
        await model.close()
    return out


async def socket_write_floor(ctl: Control, n: int = 500) -> float:
    """CPU of handing one small pre-masked frame to the transport: the floor of any raw send."""
    frame = Frame(Opcode.TEXT, b'{"cmd":"noop","type":"response.create"}')
    data = frame.serialize(mask=True, extensions=[])
    transport = ctl.ws.transport
    total = 0.0
    for _ in range(n):
        c0 = time.process_time()
        transport.write(data)
        total += time.process_time() - c0
        await asyncio.sleep(0.001)
    return total / n * 1e6


def percentile(sorted_values: list[int], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1e6


async def scenario_sessions(lib: str, port: int, p: dict[str, Any]) -> dict[str, Any]:
    model_cls, listener_cls, _ = load_lib(lib)
    out: dict[str, Any] = {}
    n = p["sessions"]
    async with Control(port) as ctl:
        # Warm-up session: a short turn, so lazy one-off costs are not charged to sessions.
        warm, wl = await open_session(lib, port, model_cls, listener_cls)
        await ctl.call(cmd="wait", n=1)
        await ctl.call(cmd="burst", n=50)
        await asyncio.wait_for(wl.turn_done.wait(), 60)
        await warm.close()
        del warm, wl
        await asyncio.sleep(0.3)
        gc.collect()
        reset_peak()
        rss0 = status_kib("VmRSS")
        sessions = []
        for _ in range(n):
            sessions.append(await open_session(lib, port, model_cls, listener_cls))
        await ctl.call(cmd="wait", n=n)
        await asyncio.sleep(1.0)
        peak1 = status_kib("VmHWM")
        gc.collect()
        rss1 = status_kib("VmRSS")
        out["rss_base_kib"] = rss0
        out["rss_per_session_kib"] = (rss1 - rss0) / n
        out["peak_per_session_kib"] = (peak1 - rss0) / n
        runs = (("paced", 1.0, 1), ("together", 0.0, p["head"]), ("together1", 0.0, 1))
        for name, spread, head in runs:
            lats: list[int] = []
            for _, lst in sessions:
                lst.latencies = lats
                lst.turn_done.clear()
            c0, w0 = time.process_time(), time.perf_counter()
            with profiled(name):
                info = await ctl.call(cmd="paced", seconds=p["seconds"], spread=spread, head=head)
                for _, lst in sessions:
                    await asyncio.wait_for(lst.turn_done.wait(), 60)
                    lst.latencies = None
            cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - w0
            lats.sort()
            out[name] = {
                "p50_ms": percentile(lats, 0.50),
                "p99_ms": percentile(lats, 0.99),
                "max_ms": lats[-1] / 1e6,
                "n": len(lats),
                "cpu_share": cpu_s / wall_s,
                "cpu_us_per_delta": cpu_s / len(lats) * 1e6,
                "server_late_p99_ms": info.get("server_late_p99_ms"),
            }
            await asyncio.sleep(0.3)
        for model, _ in sessions:
            await model.close()
    return out


async def scenario_floor(lib: str, port: int, p: dict[str, Any]) -> dict[str, Any]:
    """The read path alone: sessions whose connections drop every byte after the handshake
    (no frame parsing, no decoding, no listener), through the same turns-together run.

    Its CPU per delta is what the event loop and the kernel cost per socket read on this
    machine, under any client: epoll wake-up, `recv` into a reused buffer, the transport's
    callback. Its latency (the stamp of each delta in the bytes read, found with one
    `bytes.find`, against the clock at the read) is the best any client can do in this run.
    `lib` is ignored (the connection class is `websockets'` with a reused read buffer, from
    this project's `_wsdirect`)."""
    from realtime_agents._wsdirect import DirectClientConnection

    lats: list[int] = []
    key = b'"event_id":"event_'

    def scan(data: bytes) -> None:
        now = time.time_ns()
        at = data.find(key)
        while at >= 0:
            digits = data[at + 18 : at + 39]
            if len(digits) == 21 and digits[:3] == b"001":  # a send stamp, not a fixed id
                lats.append(now - int(digits))
            at = data.find(key, at + 39)

    class Discarding(DirectClientConnection):
        # Every byte after the handshake reaches `_split` (from `_route`), here only scanned.
        def _split(self, data: bytes) -> None:
            scan(data)

        def buffer_updated(self, nbytes: int) -> None:  # (without the one-frame shortcut)
            self._route(self.get_buffer(-1)[:nbytes].tobytes())

    sessions = []
    async with Control(port) as ctl:
        for _ in range(p["sessions"]):
            url = f"ws://127.0.0.1:{port}/v1/realtime?model=x"
            ws = await websockets.connect(url, create_connection=Discarding, compression=None)
            sessions.append(ws)
        await ctl.call(cmd="wait", n=p["sessions"])
        await asyncio.sleep(0.5)
        out: dict[str, Any] = {}
        for name, head in (("together", p["head"]), ("together1", 1)):
            lats.clear()
            c0 = time.process_time()
            await ctl.call(cmd="paced", seconds=p["seconds"], spread=0.0, head=head)
            await asyncio.sleep(0.2)
            cpu_s = time.process_time() - c0
            lats.sort()
            deltas = p["sessions"] * round(p["seconds"] / 0.040)
            out[name] = {
                "cpu_us_per_delta": cpu_s / deltas * 1e6,
                "p50_ms": percentile(lats, 0.50) if lats else None,
                "p99_ms": percentile(lats, 0.99) if lats else None,
                "n": len(lats),
                "expected": deltas,
            }
            await asyncio.sleep(0.3)
        for ws in sessions:
            ws.transport.abort()
    return out


def main() -> None:
    scenario, lib, port, params = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    p = json.loads(params)
    if p.get("client_cpus"):
        os.sched_setaffinity(0, p["client_cpus"])
    fn = {"cpu": scenario_cpu, "sessions": scenario_sessions, "floor": scenario_floor}[scenario]
    loop_factory = None
    if p.get("loop") == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(fn(lib, port, p))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
