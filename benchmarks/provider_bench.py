"""OpenAI provider benchmark: the Agents SDK's OpenAIRealtimeWebSocketModel vs ours, side by side.

    .venv/bin/python benchmarks/provider_bench.py            # full run (a few minutes)
    .venv/bin/python benchmarks/provider_bench.py --quick    # smoke run (< 60 s)

A local GA Realtime server (`_stream_server.py`) runs in its own process, so its CPU is not
charged to the clients; each library runs in fresh subprocesses (`_bench_worker.py`) that
import only that library. Both clients connect as they normally would
(`{"url": "ws://127.0.0.1:PORT/v1/realtime?model=x", "api_key": "sk-test"}`), with default
listeners and options, on plain asyncio. See benchmarks/README.md for what each figure means.
The script prints figures and PASS/FAIL per target; it exits 0 regardless.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _stream_server  # noqa: E402

LIBS = ("theirs", "ours")
IMPORTS = {
    "bare": "",
    "theirs": "import agents.realtime\n"
    "from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel\n",
    "ours": "import realtime_agents.providers.openai\n"
    "from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel\n",
}
RSS_CODE = (
    "{imports}"
    "for line in open('/proc/self/status'):\n"
    "    if line.startswith('VmRSS:'):\n"
    "        print(int(line.split()[1]))\n"
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def import_rss_kib(lib: str) -> int | str:
    code = RSS_CODE.format(imports=IMPORTS[lib])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return "error: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return int(proc.stdout.strip())


def run_worker(scenario: str, lib: str, port: int, params: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_bench_worker.py"), scenario, lib, str(port)]
    try:
        proc = subprocess.run(
            [*cmd, json.dumps(params)], capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{scenario} timed out"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"{scenario} exited {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def decode_floor_us(n: int) -> float:
    """msgspec typed decode of one delta frame, base64 included: the floor of any client."""
    import msgspec

    class AudioDelta(msgspec.Struct):
        type: str
        event_id: str
        response_id: str
        item_id: str
        output_index: int
        content_index: int
        delta: bytes

    frame = _stream_server.Turn(1).deltas[0]
    decoder = msgspec.json.Decoder(AudioDelta)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            decoder.decode(frame)
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def ours_importable() -> str | None:
    code = IMPORTS["ours"]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["?"])[-1]


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    ap.add_argument("--burst", type=int, help="audio deltas in the CPU burst (100,000)")
    ap.add_argument("--sessions", type=int, help="concurrent sessions (200)")
    ap.add_argument("--seconds", type=float, help="audio seconds per paced turn (5)")
    ap.add_argument("--head", type=int, default=5, help="deltas sent back to back at turn start")
    ap.add_argument("--sends", type=int, help="raw response.create sends (2,000)")
    ap.add_argument("--repeat", type=int, help="CPU runs per library, median reported (3)")
    ap.add_argument("--only", choices=LIBS, help="measure one library only")
    args = ap.parse_args()
    q = args.quick
    burst = args.burst or (20_000 if q else 100_000)
    sessions = args.sessions or 200
    seconds = args.seconds or (2.0 if q else 5.0)
    sends = args.sends or (300 if q else 2_000)
    repeat = args.repeat or (1 if q else 3)
    libs = [args.only] if args.only else list(LIBS)
    t_start = time.perf_counter()
    print(
        f"provider_bench {'--quick ' if q else ''}on {platform.node()}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%F %T')}"
    )
    print(f"load average (1/5/15 min) at start: {load()}", flush=True)
    missing = ours_importable()
    if missing is not None and "ours" in libs:
        print(f"ours is not importable yet ({missing}); measuring theirs only")
        libs = [lib for lib in libs if lib != "ours"]

    res: dict[str, dict[str, Any]] = {lib: {} for lib in LIBS}
    # 5. RSS after import, each in a fresh interpreter (median of 3).
    bare = statistics.median(int(import_rss_kib("bare")) for _ in range(3))
    for lib in libs:
        vals = [import_rss_kib(lib) for _ in range(3)]
        if all(isinstance(v, int) for v in vals):
            res[lib]["import_abs"] = statistics.median(vals) / 1024  # type: ignore[type-var]
            res[lib]["import_net"] = res[lib]["import_abs"] - bare / 1024
        else:
            res[lib]["error"] = next(v for v in vals if isinstance(v, str))
    floor = decode_floor_us(20_000)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_stream_server.run, args=(child,), daemon=True)
    server.start()
    try:
        port = parent.recv()
        # 1 + 6. CPU per delta in a burst, raw send CPU: fresh process per run, alternating.
        cpu_runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
        for _ in range(repeat):
            for lib in libs:
                r = run_worker("cpu", lib, port, {"burst": burst, "sends": sends})
                print(f"  cpu {lib}: {r}", flush=True)
                cpu_runs[lib].append(r)
        for lib in libs:
            for key in ("cpu_us_per_delta", "send_us", "burst_cpu_share"):
                res[lib][key] = median_of(cpu_runs[lib], key)
            errors = [r["error"] for r in cpu_runs[lib] if "error" in r]
            if errors:
                res[lib]["error"] = errors[0]
        load_mid = load()
        # 2 + 3 + 4. Sessions: RSS per idle session, paced latency, turns together.
        params = {"sessions": sessions, "seconds": seconds, "head": args.head}
        for lib in libs:
            r = run_worker("sessions", lib, port, params)
            print(f"  sessions {lib}: {r}", flush=True)
            if "error" in r:
                res[lib]["error"] = r["error"]
            res[lib].update(r)
    finally:
        server.terminate()
        server.join(5)
    load_end = load()
    report(res, floor, bare, burst, sessions, seconds, args.head, sends, repeat, q)
    print(
        f"\nload average (1/5/15 min): start {load_at_start}, after CPU runs {load_mid}, "
        f"end {load_end}; total {time.perf_counter() - t_start:.0f} s"
    )


load_at_start = load()


def report(
    res: dict[str, dict[str, Any]],
    floor: float,
    bare: float,
    burst: int,
    sessions: int,
    seconds: float,
    head: int,
    sends: int,
    repeat: int,
    quick: bool,
) -> None:
    t, o = res["theirs"], res["ours"]

    def lat(r: dict[str, Any], name: str, key: str) -> float | None:
        return r.get(name, {}).get(key)

    rows: list[tuple[str, float | None, float | None, float | None, str]] = [
        # (label, theirs, ours, ratio limit (None = none), absolute target note)
        (
            f"1. CPU us per audio delta, burst of {burst:,}",
            t.get("cpu_us_per_delta"),
            o.get("cpu_us_per_delta"),
            0.5,
            "",
        ),
        (
            f"2. latency p50 ms, {sessions} sessions paced",
            lat(t, "paced", "p50_ms"),
            lat(o, "paced", "p50_ms"),
            None,
            "",
        ),
        (
            f"2. latency p99 ms, {sessions} sessions paced",
            lat(t, "paced", "p99_ms"),
            lat(o, "paced", "p99_ms"),
            None,
            "",
        ),
        (
            f"3. latency p50 ms, {sessions} turns together",
            lat(t, "together", "p50_ms"),
            lat(o, "together", "p50_ms"),
            None,
            "",
        ),
        (
            f"3. latency p99 ms, {sessions} turns together",
            lat(t, "together", "p99_ms"),
            lat(o, "together", "p99_ms"),
            0.1,
            "",
        ),
        (
            f"4. peak RSS KiB per idle session (x{sessions})",
            t.get("peak_per_session_kib"),
            o.get("peak_per_session_kib"),
            0.7,
            "",
        ),
        (
            "   RSS KiB per idle session after gc (info)",
            t.get("rss_per_session_kib"),
            o.get("rss_per_session_kib"),
            None,
            "",
        ),
        (
            "5. RSS MiB after import, minus bare python",
            t.get("import_net"),
            o.get("import_net"),
            0.4,
            "",
        ),
        (
            f"   RSS MiB after import, absolute (bare {bare / 1024:.1f})",
            t.get("import_abs"),
            o.get("import_abs"),
            None,
            "",
        ),
        (
            "6. CPU us per raw response.create send",
            t.get("send_us"),
            o.get("send_us"),
            None,
            "< 50 us",
        ),
    ]
    print(
        f"\nResults ({'QUICK smoke run' if quick else 'full run'}; "
        f"CPU figures: median of {repeat} fresh-process runs)"
    )
    head_row = f"{'figure':<50} {'theirs':>10} {'ours':>10} {'ours/theirs':>11}  target"
    print(head_row)
    print("-" * (len(head_row) + 22))
    for label, a, b, limit, absolute in rows:
        ratio = b / a if (a and b is not None) else None
        verdict = ""
        if limit is not None:
            verdict = f"<= {limit}x  " + (
                "n/a" if ratio is None else ("PASS" if ratio <= limit else "FAIL")
            )
        elif absolute:
            verdict = f"{absolute}  " + ("n/a" if b is None else ("PASS" if b < 50 else "FAIL"))
        print(f"{label:<50} {fmt(a, 2):>10} {fmt(b, 2):>10} {fmt(ratio, 3):>11}  {verdict}")
    print(f"\nreference: msgspec typed decode of one delta frame (base64 included): {floor:.2f} us")
    for lib in LIBS:
        r = res[lib]
        if "error" in r:
            print(f"{lib}: ERROR {r['error']}")
        if "cpu_us_per_delta" in r and r["cpu_us_per_delta"] is not None:
            print(
                f"{lib}: burst used {100 * (r.get('burst_cpu_share') or 0):.0f}% of a core "
                "(below ~90%: the server was the bottleneck, CPU/delta still valid)"
            )
        for name in ("paced", "together"):
            if name in r:
                d = r[name]
                print(
                    f"{lib} {name}: max {d['max_ms']:.1f} ms over {d['n']:,} deltas, client CPU "
                    f"{100 * d['client_cpu_share']:.0f}% of a core, server send lateness p99 "
                    f"{d['server_late_p99_ms']:.1f} ms"
                )
    print(
        f"paced turns: {seconds:g} s of 40 ms deltas; 'paced' starts spread over 1 s, one "
        f"delta per 40 ms; 'together' starts all at once, first {head} deltas back to back; "
        f"{sends:,} raw sends"
    )


if __name__ == "__main__":
    main()
