"""`realtime-agents serve` once its flags are parsed: the checks, the `ServerOptions`, the
engines, the server (or its worker processes) and the graceful stop on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import io
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, TextIO

from .preflight import (
    EnginePlan,
    PreflightError,
    check_engines,
    check_event_loop,
    check_listen_address,
    command_with,
    read_config,
)
from .server.app import API_KEY_ENV, ServerOptions, is_loopback
from .server.capacity import default_limit
from .server.engines.base import EngineSet
from .web import page_line

EXIT_INTERRUPTED: Final = 130


def ready_message(url: str, *, api_key_required: bool) -> str:
    """What `serve` prints once it listens: where, how to connect and how to stop."""
    base_url = url.removesuffix("/realtime")
    key = "the server's API key" if api_key_required else "any API key"
    return (
        f"ready: listening on {url}\n"
        f"  {page_line(url, api_key_set=api_key_required)}\n"
        f"  connect: any OpenAI Realtime client with base URL {base_url}, "
        f'model "local" and {key}\n'
        "  stop:    Ctrl-C"
    )


def load_engine_set(kind: str, config: Mapping[str, Any], quiet: bool = False) -> EngineSet:
    """Engines of `kind`: scripted directly, others through the engine loader."""
    if kind == "scripted":
        from .server.engines.scripted import scripted_engine_set

        return scripted_engine_set(**dict(config))
    loader = importlib.import_module("realtime_agents.server.engines.loader")
    log: TextIO = io.StringIO() if quiet else sys.stderr
    engine_set: EngineSet = loader.load_engines(kind, dict(config), log=log)
    return engine_set


def server_options(
    args: argparse.Namespace, api_key: str | None, plan: EnginePlan | None = None
) -> ServerOptions:
    """The `ServerOptions` the flags describe (`plan`: the engines, for the default capacity)."""
    capacity = args.max_concurrent_responses
    if capacity is None and plan is not None:
        capacity = default_limit([str(role["kind"]) for role in plan.roles.values()])
    return ServerOptions(
        api_key=api_key,
        max_frame_bytes=args.max_frame_bytes,
        max_audio_buffer_ms=args.max_audio_buffer_ms,
        max_conversation_items=args.max_conversation_items,
        max_sessions=args.max_sessions,
        max_retained_audio_bytes=args.max_retained_audio_bytes,
        max_session_seconds=args.max_session_seconds,
        max_conversation_bytes=args.max_conversation_bytes,
        max_out_of_band_responses=args.max_out_of_band_responses,
        max_concurrent_responses=capacity or None,
        max_write_buffer_bytes=args.max_write_buffer_bytes,
        write_timeout=args.write_timeout,
        worker_threads=args.worker_threads,
        compression=args.compression,
        workers=args.workers,
        speculation=args.speculation,
    )


def check_serve(args: argparse.Namespace, argv: Sequence[str]) -> tuple[EnginePlan, str | None]:
    """Everything `serve` can check before loading a model: the engine plan and the API key."""
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not api_key and not is_loopback(args.host):
        raise PreflightError(
            f"refusing to listen on {args.host} without an API key: "
            f"pass --api-key or set {API_KEY_ENV}",
            command_with(argv, "--host", "127.0.0.1"),
        )
    config = read_config(args.config)
    check_event_loop(args.loop)
    plan = check_engines(args.engines, config)
    check_listen_address(args.host, args.port, argv)
    return plan, api_key


def progress(args: argparse.Namespace, message: str) -> None:
    """A progress line on stderr (not with -q)."""
    if args.log_level in ("debug", "info"):
        print(message, file=sys.stderr, flush=True)


async def run_server(args: argparse.Namespace, plan: EnginePlan, api_key: str | None) -> int:
    """Load engines, serve until SIGINT/SIGTERM, then shut down gracefully; the exit code."""
    from .server.app import serve

    options = server_options(args, api_key, plan)
    quiet = args.log_level not in ("debug", "info")
    if args.workers > 1:
        return await run_workers(args, plan, options)
    progress(args, f"loading {args.engines} engines...")
    started = time.perf_counter()
    engines = await asyncio.to_thread(load_engine_set, args.engines, plan.config, quiet)
    progress(args, f"engines ready in {time.perf_counter() - started:.1f}s: {engines.describe()}")
    server = await serve(args.host, args.port, engines, options)
    try:
        with stop_signals() as stop:
            print(ready_message(server.url, api_key_required=bool(api_key)), flush=True)
            received = await stop
            progress(args, "shutting down...")
    finally:
        await server.close()
    return EXIT_INTERRUPTED if received == signal.SIGINT else 0


async def run_workers(args: argparse.Namespace, plan: EnginePlan, options: ServerOptions) -> int:
    """`--workers N`: N processes on one port, each loading its own engines."""
    from .server.workers import serve_workers

    progress(args, f"starting {args.workers} workers, each loading {args.engines} engines...")
    started = time.perf_counter()
    quiet = args.log_level not in ("debug", "info")
    load = functools.partial(load_engine_set, args.engines, plan.config, quiet)
    pool = await serve_workers(args.host, args.port, load, options, event_loop=args.loop)
    progress(
        args,
        f"{args.workers} workers (pids {pool.pids}) ready in {time.perf_counter() - started:.1f}s",
    )
    try:
        with stop_signals() as stop:
            print(ready_message(pool.url, api_key_required=bool(options.api_key)), flush=True)
            received = await stop
            progress(args, "shutting down workers...")
    finally:
        await pool.close()
    return EXIT_INTERRUPTED if received == signal.SIGINT else 0


@contextlib.contextmanager
def stop_signals() -> Iterator[asyncio.Future[signal.Signals]]:
    """A future set by the first SIGINT or SIGTERM while the block runs (the graceful stop);
    afterwards Ctrl-C ends the process at once again."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()
    watched = (signal.SIGINT, signal.SIGTERM)
    previous_interrupt = signal.getsignal(signal.SIGINT)

    def record(which: signal.Signals) -> None:
        if not received.done():
            received.set_result(which)

    for watched_signal in watched:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(watched_signal, record, watched_signal)
    try:
        yield received
    finally:
        for watched_signal in watched:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(watched_signal)
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGINT, previous_interrupt)


def serve_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`realtime-agents serve ...`: checks, then the server; the exit code."""
    from .server.workers import run_loop

    plan, api_key = check_serve(args, argv)
    event_loop = args.loop if args.workers == 1 else "asyncio"
    return run_loop(run_server(args, plan, api_key), event_loop)
