"""OpenAI provider benchmark: the Agents SDK's OpenAIRealtimeWebSocketModel vs ours, side by side.

    .venv/bin/python benchmarks/provider_bench.py            # full run (a few minutes)
    .venv/bin/python benchmarks/provider_bench.py --quick    # smoke run (< 60 s)

A local GA Realtime server (`_stream_server.py`) runs in its own process, so its CPU is not
charged to the clients; each library runs in fresh subprocesses (`_bench_worker.py`) that
import only that library. Both clients connect as they normally would
(`{"url": "ws://127.0.0.1:PORT/v1/realtime?model=x", "api_key": "sk-test"}`), with default
listeners and options, on plain asyncio. The server runs on one CPU and the client under test on
another, as with a remote server (`--no-pin` lets them share). See benchmarks/README.md for what
each figure means.
The script prints figures and PASS/FAIL per target; it exits 0 regardless.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
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


def revision() -> str:
    """The commit measured, and whether the provider's sources differ from it."""
    root = HERE.parent
    git = ["git", "-C", str(root)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src/realtime_agents/providers"],
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown revision"
    changed = " (uncommitted provider changes)" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{changed}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def import_rss_kib(lib: str) -> int | str:
    code = RSS_CODE.format(imports=IMPORTS[lib])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return "error: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return int(proc.stdout.strip())


PROFILE_DIR: str | None = None


def run_worker(scenario: str, lib: str, port: int, params: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_bench_worker.py"), scenario, lib, str(port)]
    env = dict(os.environ)
    if PROFILE_DIR:
        env["BENCH_PROFILE"] = os.path.join(PROFILE_DIR, lib)
    try:
        proc = subprocess.run(
            [*cmd, json.dumps(params)], capture_output=True, text=True, timeout=900, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{scenario} timed out"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"{scenario} exited {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def pinning() -> tuple[list[int], list[int]]:
    """(server CPUs, client CPUs): one CPU each, when this process may use two or more.

    The stream server stands in for a remote Realtime server, which never shares the client's
    CPU. Unpinned on a small machine, loopback wake-ups pull the client onto the server's CPU
    (the scheduler's wake-affine placement), so a client runs only when the server yields,
    and tail latency measures the scheduler: clients that only read their sockets see p99
    ~3.5 ms unpinned vs ~0.3 ms pinned on this 2-CPU VM (`--no-pin` shows it)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return [], []
    if len(cpus) < 2:
        return [], []
    return [cpus[0]], [cpus[1]]


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


def values_of(runs: list[dict[str, Any]], path: str) -> list[float | None]:
    """Per-run values at a dotted path ('together.p99_ms'), None where absent."""
    out: list[float | None] = []
    for run in runs:
        v: Any = run
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        out.append(v if isinstance(v, int | float) else None)
    return out


def median_of(runs: list[dict[str, Any]], path: str) -> float | None:
    """Median over runs of a value at a dotted path; None if absent."""
    values = [v for v in values_of(runs, path) if v is not None]
    return statistics.median(values) if values else None


def paired_ratios(res: dict[str, dict[str, Any]], path: str) -> list[float]:
    """ours/theirs of each run with the theirs run just before it (runs alternate in time)."""
    head, _, rest = path.partition(".")
    if not rest:
        return []
    theirs = values_of(res["theirs"].get(head, []), rest)
    ours = values_of(res["ours"].get(head, []), rest)
    return [b / a for a, b in zip(theirs, ours, strict=False) if a and b is not None]


def fmt(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    ap.add_argument("--burst", type=int, help="audio deltas in the CPU burst (100,000)")
    ap.add_argument("--sessions", type=int, help="concurrent sessions (200)")
    ap.add_argument("--seconds", type=float, help="audio seconds per paced turn (5)")
    ap.add_argument("--head", type=int, default=5, help="deltas sent back to back at turn start")
    ap.add_argument("--sends", type=int, help="raw response.create sends (2,000)")
    ap.add_argument("--repeat", type=int, help="fresh-process runs per library, median (5)")
    ap.add_argument("--only", choices=LIBS, help="measure one library only")
    ap.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the clients' event loop, the same for both libraries (default: plain asyncio)",
    )
    ap.add_argument(
        "--no-pin",
        action="store_true",
        help="let the server and the clients share CPUs (default: the server on one CPU, "
        "the client under test on another)",
    )
    ap.add_argument("--profile", metavar="DIR", help="cProfile the timed sections into DIR")
    ap.add_argument("--json", metavar="PATH", help="also write every run's raw figures here")
    ap.add_argument("--server-only", action="store_true", help="run the server, print its port")
    args = ap.parse_args()
    if args.server_only:
        serve_forever()
        return
    global PROFILE_DIR
    PROFILE_DIR = args.profile
    if PROFILE_DIR:
        os.makedirs(PROFILE_DIR, exist_ok=True)
    q = args.quick
    cfg = {
        "burst": args.burst or (20_000 if q else 100_000),
        "sends": args.sends or (300 if q else 2_000),
        "sessions": args.sessions or 200,
        "seconds": args.seconds or (2.0 if q else 5.0),
        "head": args.head,
        "repeat": args.repeat or (1 if q else 5),
        "quick": q,
        "loop": args.loop,
    }
    server_cpus, client_cpus = ([], []) if args.no_pin else pinning()
    cfg["client_cpus"] = client_cpus
    libs = [args.only] if args.only else list(LIBS)
    t_start = time.perf_counter()
    print(
        f"provider_bench {'--quick ' if q else ''}on {platform.node()}: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%F %T')}, {revision()}, "
        f"client loop {args.loop}, "
        + (
            f"server pinned to CPU {server_cpus}, clients to CPU {client_cpus}\n"
            if server_cpus
            else "server and clients not pinned\n"
        )
        + f"load average (1/5/15 min) at start: {load()}",
        flush=True,
    )
    missing = ours_importable()
    if missing is not None and "ours" in libs:
        print(f"ours is not importable yet ({missing}); measuring theirs only")
        libs = [lib for lib in libs if lib != "ours"]

    res: dict[str, dict[str, Any]] = {lib: {} for lib in LIBS}
    # 5. RSS after import, each in a fresh interpreter (median of 3).
    bare = statistics.median(int(import_rss_kib("bare")) for _ in range(3)) / 1024
    for lib in libs:
        vals = [import_rss_kib(lib) for _ in range(3)]
        if all(isinstance(v, int) for v in vals):
            res[lib]["import_abs"] = statistics.median(vals) / 1024  # type: ignore[type-var]
            res[lib]["import_net"] = res[lib]["import_abs"] - bare
        else:
            res[lib]["error"] = next(v for v in vals if isinstance(v, str))
    res["ref"] = {"floor": decode_floor_us(20_000), "bare": bare}

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_stream_server.run, args=(child, server_cpus), daemon=True)
    server.start()
    loads = [load()]
    try:
        port = parent.recv()
        # Each run is a fresh process; runs alternate between the libraries; medians reported.
        for scenario in ("cpu", "sessions"):
            runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
            for _ in range(cfg["repeat"]):
                for lib in libs:
                    r = run_worker(scenario, lib, port, cfg)
                    print(f"  {scenario} {lib}: {json.dumps(r)[:300]}", flush=True)
                    runs[lib].append(r)
                    if "error" in r:
                        res[lib]["error"] = r["error"]
            for lib in libs:
                res[lib][scenario] = runs[lib]
            loads.append(load())
        res["ref"]["read_floor"] = run_worker("floor", "ours", port, cfg)
    finally:
        server.terminate()
        server.join(5)
    report(res, cfg)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "loads": loads, "results": res}, f, indent=1)
    print(
        f"\nload average (1/5/15 min): start {loads[0]}, "
        f"after the CPU runs {loads[1 % len(loads)]}, end {loads[-1]}; "
        f"total {time.perf_counter() - t_start:.0f} s"
    )
    if PROFILE_DIR:
        print_profiles(PROFILE_DIR, libs)


ROWS = (
    # (label, value path, ratio limit or None, absolute limit in us or None)
    ("1. CPU us per audio delta, burst of {burst:,}", "cpu.cpu_us_per_delta", 0.5, None),
    ("2. latency p50 ms, {sessions} sessions paced", "sessions.paced.p50_ms", None, None),
    ("2. latency p99 ms, {sessions} sessions paced", "sessions.paced.p99_ms", None, None),
    ("   CPU us per delta, paced (info)", "sessions.paced.cpu_us_per_delta", None, None),
    ("3. latency p50 ms, {sessions} turns together", "sessions.together.p50_ms", None, None),
    ("3. latency p99 ms, {sessions} turns together", "sessions.together.p99_ms", 0.1, None),
    ("   CPU us per delta, together (info)", "sessions.together.cpu_us_per_delta", None, None),
    ("   p50 ms, together, no head burst (info)", "sessions.together1.p50_ms", None, None),
    ("   p99 ms, together, no head burst (info)", "sessions.together1.p99_ms", None, None),
    ("4. peak RSS KiB per idle session (x{sessions})", "sessions.peak_per_session_kib", 0.7, None),
    ("   RSS KiB per idle session after gc (info)", "sessions.rss_per_session_kib", None, None),
    ("5. RSS MiB after import, minus bare python", "import_net", 0.4, None),
    ("   RSS MiB after import, absolute (bare {bare:.1f})", "import_abs", None, None),
    ("6. CPU us per raw response.create send", "cpu.send_us", None, 50.0),
)


def value(r: dict[str, Any], path: str) -> float | None:
    head, _, rest = path.partition(".")
    if rest:
        return median_of(r.get(head, []), rest)
    v = r.get(head)
    return v if isinstance(v, int | float) else None


def report(res: dict[str, dict[str, Any]], cfg: dict[str, Any]) -> None:
    t, o, ref = res["theirs"], res["ours"], res["ref"]
    kind = "QUICK smoke run" if cfg["quick"] else "full run"
    print(
        f"\nResults ({kind}; theirs and ours: medians of {cfg['repeat']} fresh-process runs "
        "per library; ratio: median of the per-run ratios ours/theirs, each ours run paired "
        "with the theirs run just before it, range in brackets; PASS/FAIL on that ratio)"
    )
    title = (
        f"{'figure':<50} {'theirs':>10} {'ours':>10} {'ours/theirs':>11} {'[range]':>13}  target"
    )
    print(title + "\n" + "-" * (len(title) + 14))
    for label, path, limit, absolute in ROWS:
        a, b = value(t, path), value(o, path)
        pairs = paired_ratios(res, path)
        ratio = statistics.median(pairs) if pairs else (b / a if (a and b is not None) else None)
        spread = f"[{min(pairs):.2f}-{max(pairs):.2f}]" if len(pairs) > 1 else ""
        verdict = ""
        if limit is not None:
            ok = None if ratio is None else ratio <= limit
            verdict = f"<= {limit}x  " + ("n/a" if ok is None else "PASS" if ok else "FAIL")
        elif absolute is not None:
            ok = None if b is None else b < absolute
            verdict = f"< {absolute:g} us  " + ("n/a" if ok is None else "PASS" if ok else "FAIL")
        label = label.format(**cfg, bare=ref["bare"])
        print(
            f"{label:<50} {fmt(a, 2):>10} {fmt(b, 2):>10} {fmt(ratio, 3):>11} {spread:>13}  "
            f"{verdict}"
        )
    print(
        f"\nreference: msgspec typed decode of one delta frame (base64 included): "
        f"{ref['floor']:.2f} us"
    )
    rf = ref.get("read_floor", {})
    if "together1" in rf:
        print(
            "reference: clients that only read their sockets (no parsing; any client's floor), "
            f"turns together: CPU per delta {rf['together1']['cpu_us_per_delta']:.2f} us "
            "(event loop + kernel, no head burst); latency p50/p99 "
            f"{fmt(rf['together']['p50_ms'], 2)} / {fmt(rf['together']['p99_ms'], 2)} ms, "
            f"no head burst {fmt(rf['together1']['p50_ms'], 2)} / "
            f"{fmt(rf['together1']['p99_ms'], 2)} ms"
        )
        for name in ("together", "together1"):
            got, want = rf[name].get("n", 0), rf[name].get("expected", 0)
            if got < want:
                print(f"  WARNING: the read floor's {name} run saw {got:,} of {want:,} stamps")
    floors = [value(res[lib], "cpu.write_floor_us") for lib in LIBS]
    floors = [f for f in floors if f is not None]
    if floors:
        print(
            "reference: CPU of one transport.write of a small pre-built frame on loopback "
            f"(the syscall under any raw send): {statistics.median(floors):.2f} us"
        )
    for lib in LIBS:
        r = res[lib]
        if "error" in r:
            print(f"{lib}: ERROR {r['error']}")
        share = value(r, "cpu.burst_cpu_share")
        if share is not None:
            print(f"{lib}: burst kept the client at {100 * share:.0f}% of a core")
        for name in ("paced", "together", "together1"):
            mx, cpu = value(r, f"sessions.{name}.max_ms"), value(r, f"sessions.{name}.cpu_share")
            late = value(r, f"sessions.{name}.server_late_p99_ms")
            if mx is not None and cpu is not None and late is not None:
                print(
                    f"{lib} {name}: max {mx:.1f} ms, client CPU {100 * cpu:.0f}% of a core, "
                    f"server send lateness p99 {late:.1f} ms"
                )
        runs = [v for v in values_of(r.get("sessions", []), "together.p99_ms") if v is not None]
        if runs:
            print(f"{lib} together p99 per run (ms): " + ", ".join(f"{v:.2f}" for v in runs))
    print(
        f"turns: {cfg['seconds']:g} s of 40 ms deltas; 'paced' starts spread over 1 s; "
        f"'together' all at once with the first {cfg['head']} deltas back to back "
        f"('no head burst': 1); {cfg['sends']:,} raw sends per run"
    )


def print_profiles(directory: str, libs: list[str], top: int = 12) -> None:
    """Top functions by own CPU time per profiled section (cProfile inflates small calls)."""
    import pstats

    for lib in libs:
        for section in ("burst", "send", "paced", "together"):
            path = os.path.join(directory, f"{lib}.{section}.pstats")
            if not os.path.exists(path):
                continue
            st = pstats.Stats(path)
            total = st.total_tt  # type: ignore[attr-defined]
            print(
                f"\nprofile {lib} {section}: {total:.2f} s CPU under cProfile (figures above are"
                " inflated by it); top functions by own CPU time"
            )
            rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
            for (file, line, func), (_, calls, tt, ct, _) in rows:
                where = f"{os.path.basename(file)}:{line}({func})"
                print(
                    f"  {100 * tt / total:5.1f}% own {100 * ct / total:5.1f}% cum "
                    f"{calls:>9,} calls  {where}"
                )


def serve_forever() -> None:
    """Run the stream server in this process (for py-spy or manual workers)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_stream_server.run, args=(child,), daemon=True)
    server.start()
    # A SIGTERM (`kill`, `pkill`) ends this process through the `finally`, server included.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(parent.recv(), flush=True)
        server.join()
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
