"""`realtime-agents`: `serve` the local realtime server, or run the offline `demo`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .server.app import API_KEY_ENV, ServerOptions, is_loopback
from .server.engines.base import EngineSet

ENGINE_KINDS = ("embedded", "scripted", "http")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="realtime-agents", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local OpenAI-Realtime-compatible server")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    serve.add_argument(
        "--api-key",
        default=None,
        help=f"bearer token clients must send (default: ${API_KEY_ENV}); required beyond loopback",
    )
    serve.add_argument("--engines", choices=ENGINE_KINDS, default="embedded")
    serve.add_argument("--config", default=None, help="JSON engine config file")
    defaults = ServerOptions()
    serve.add_argument("--max-frame-bytes", type=int, default=defaults.max_frame_bytes)
    serve.add_argument("--max-audio-buffer-ms", type=int, default=defaults.max_audio_buffer_ms)
    serve.add_argument(
        "--max-conversation-items", type=int, default=defaults.max_conversation_items
    )
    serve.add_argument(
        "--max-retained-audio-bytes", type=int, default=defaults.max_retained_audio_bytes
    )
    serve.add_argument("--max-sessions", type=int, default=defaults.max_sessions)
    serve.add_argument("--max-session-seconds", type=float, default=defaults.max_session_seconds)
    serve.add_argument("--worker-threads", type=int, default=defaults.worker_threads)
    serve.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="server processes sharing the port via SO_REUSEPORT (default 1); each loads its "
        "own engines (their memory is paid per worker) and takes a share of --max-sessions",
    )
    serve.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the server process(es); uvloop (extra 'fast') uses less CPU",
    )
    serve.add_argument(
        "--compression",
        action="store_true",
        help="negotiate permessage-deflate with clients that offer it (off: saves CPU)",
    )
    serve.add_argument(
        "--no-speculation",
        dest="speculation",
        action="store_false",
        help="do not prefill the LLM while users speak nor start replies before their turn "
        "ends (~200 ms slower turns, less CPU per speaking session)",
    )
    serve.add_argument("--log-level", default="INFO")
    demo = commands.add_parser("demo", help="run the offline voice demo", add_help=False)
    demo.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def load_config(path: str | None) -> dict[str, Any]:
    """The engine config from a JSON file (empty without one)."""
    if path is None:
        return {}
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise SystemExit(f"error: {path} must hold a JSON object")
    return config


def load_engine_set(kind: str, config: Mapping[str, Any]) -> EngineSet:
    """Engines of `kind`: scripted directly, others through the engine loader."""
    engine_config = config.get("engines", config)
    if kind == "scripted":
        from .server.engines.scripted import scripted_engine_set

        return scripted_engine_set(**dict(engine_config))
    try:
        loader = importlib.import_module("realtime_agents.server.engines.loader")
    except ImportError as error:
        raise SystemExit(
            f"error: the {kind!r} engines are not available ({error}); "
            "install the extras with `pip install 'realtime-agents[local]'` "
            "or use --engines scripted"
        ) from error
    engine_set: EngineSet = loader.load_engines(kind, dict(engine_config))
    return engine_set


async def run_server(args: argparse.Namespace) -> None:
    """Load engines, serve until SIGINT/SIGTERM, then shut down gracefully."""
    from .server.app import serve

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not api_key and not is_loopback(args.host):
        raise SystemExit(
            f"error: refusing to listen on {args.host} without an API key; "
            f"pass --api-key or set {API_KEY_ENV}"
        )
    config = load_config(args.config)
    options = ServerOptions(
        api_key=api_key,
        max_frame_bytes=args.max_frame_bytes,
        max_audio_buffer_ms=args.max_audio_buffer_ms,
        max_conversation_items=args.max_conversation_items,
        max_sessions=args.max_sessions,
        max_retained_audio_bytes=args.max_retained_audio_bytes,
        max_session_seconds=args.max_session_seconds,
        worker_threads=args.worker_threads,
        compression=args.compression,
        workers=args.workers,
        speculation=args.speculation,
    )
    if args.workers > 1:
        await run_workers(args, config, options)
        return
    print(f"loading {args.engines} engines...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    engines = await asyncio.to_thread(load_engine_set, args.engines, config)
    print(
        f"engines ready in {time.perf_counter() - started:.1f}s: {engines.describe()}",
        file=sys.stderr,
        flush=True,
    )
    server = await serve(args.host, args.port, engines, options)
    print(f"listening on {server.url}?model=local", file=sys.stderr, flush=True)
    try:
        await _until_signalled()
    finally:
        print("shutting down...", file=sys.stderr, flush=True)
        await server.close()


async def run_workers(
    args: argparse.Namespace, config: Mapping[str, Any], options: ServerOptions
) -> None:
    """`--workers N`: N processes on one port, each loading its own engines."""
    from .server.workers import serve_workers

    print(
        f"starting {args.workers} workers, each loading {args.engines} engines...",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    load = functools.partial(load_engine_set, args.engines, dict(config))
    pool = await serve_workers(args.host, args.port, load, options, event_loop=args.loop)
    print(
        f"{args.workers} workers (pids {pool.pids}) ready in "
        f"{time.perf_counter() - started:.1f}s; listening on {pool.url}?model=local",
        file=sys.stderr,
        flush=True,
    )
    try:
        await _until_signalled()
    finally:
        print("shutting down workers...", file=sys.stderr, flush=True)
        await pool.close()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `realtime-agents` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        # The demo parses its own options (including --help).
        demo = importlib.import_module("realtime_agents.demo")
        return int(demo.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from .server.workers import run_loop

    with contextlib.suppress(KeyboardInterrupt):
        run_loop(run_server(args), args.loop if args.workers == 1 else "asyncio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
