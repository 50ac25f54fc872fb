"""Multi-process serving: N worker processes share one port through SO_REUSEPORT.

One asyncio process uses one core at most; `start_workers` (or `serve_workers`) starts N
processes (spawned, not forked: engines with threads are not fork-safe) that each load their
own engines with `load_engines()`, bind the same host and port with SO_REUSEPORT (the kernel
spreads new connections over them) and serve their share of `max_sessions`. Sessions never
move between workers. Every worker holds its own copy of the engines: the embedded models'
memory is paid once per worker.

    pool = start_workers("127.0.0.1", 8765, functools.partial(scripted_engine_set), options)
    ...
    pool.stop()  # every worker closes its sessions with 1001 and exits
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import multiprocessing as mp
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from .app import RealtimeServer, ServerOptions
from .engines.base import EngineSet

T = TypeVar("T")
EVENT_LOOPS = ("asyncio", "uvloop")
EngineFactory = Callable[[], EngineSet]
"""Loads the engines inside a worker; must be picklable (a module-level function or a
`functools.partial` of one)."""


def session_shares(max_sessions: int, workers: int) -> list[int]:
    """Split `max_sessions` over the workers (the first ones take the remainder)."""
    base, extra = divmod(max_sessions, workers)
    return [base + (1 if index < extra else 0) for index in range(workers)]


class WorkerPool:
    """Running worker processes on one port; `stop()` (or `await close()`) ends them."""

    def __init__(self, host: str, port: int, processes: list[BaseProcess]) -> None:
        self.host = host
        self.port = port
        self.processes = processes
        self._pipes: list[Connection] = []

    @property
    def url(self) -> str:
        """`ws://host:port/v1/realtime`."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"ws://{host}:{self.port}/v1/realtime"

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [process.pid for process in self.processes if process.pid is not None]

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to shut down gracefully; kill those still running after `timeout`."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for process in self.processes:
            process.join(timeout)
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for pipe in self._pipes:
            pipe.close()
        self._pipes.clear()

    async def close(self) -> None:
        """`stop()` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> WorkerPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket that fixes the port workers then share."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    reservation = socket.socket(family, kind, proto)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind(address)
    except BaseException:
        reservation.close()
        raise
    return reservation


def start_workers(
    host: str,
    port: int,
    load_engines: EngineFactory,
    options: ServerOptions,
    *,
    event_loop: str = "asyncio",
    timeout: float = 600.0,
) -> WorkerPool:
    """Start `options.workers` server processes on one port; return when all listen.

    `event_loop="uvloop"` runs the workers on uvloop (the `fast` extra): about a quarter less
    CPU per appended chunk."""
    workers = options.workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if options.event_hook is not None:
        raise ValueError("event_hook cannot cross processes: use workers=1 to trace events")
    if event_loop not in EVENT_LOOPS:
        raise ValueError(f"event_loop must be one of {EVENT_LOOPS}, got {event_loop!r}")
    if event_loop == "uvloop":
        import_uvloop()
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("several workers need SO_REUSEPORT (Linux, BSD, macOS)")
    ctx = mp.get_context("spawn")
    reservation = _reserve_port(host, port)
    pool = WorkerPool(host, reservation.getsockname()[1], [])
    try:
        for share in session_shares(options.max_sessions, workers):
            parent_end, child_end = ctx.Pipe()
            worker_options = replace(options, max_sessions=share, workers=1)
            process: BaseProcess = ctx.Process(
                target=_worker_main,
                args=(child_end, host, pool.port, load_engines, worker_options, event_loop),
                name=f"realtime-worker-{len(pool.processes)}",
            )
            process.start()
            child_end.close()
            pool.processes.append(process)
            pool._pipes.append(parent_end)
        for process, pipe in zip(pool.processes, pool._pipes, strict=True):
            if not pipe.poll(timeout):
                raise TimeoutError(f"worker {process.pid} did not start within {timeout:.0f} s")
            status, detail = pipe.recv()
            if status != "ready":
                raise RuntimeError(f"worker {process.pid} failed to start: {detail}")
    except BaseException:
        pool.stop(timeout=5.0)
        raise
    finally:
        reservation.close()
    return pool


async def serve_workers(
    host: str,
    port: int,
    load_engines: EngineFactory,
    options: ServerOptions,
    *,
    event_loop: str = "asyncio",
) -> WorkerPool:
    """`start_workers` without blocking the event loop."""
    return await asyncio.to_thread(
        functools.partial(start_workers, event_loop=event_loop), host, port, load_engines, options
    )


def run_loop(main: Coroutine[Any, Any, T], event_loop: str = "asyncio") -> T:
    """`asyncio.run(main)`, or `uvloop.run(main)` with `event_loop="uvloop"`."""
    if event_loop == "uvloop":
        return cast(T, import_uvloop().run(main))
    return asyncio.run(main)


def import_uvloop() -> Any:
    """The uvloop module, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("uvloop")
    except ImportError as error:
        raise ImportError(
            "event loop 'uvloop' needs uvloop: pip install 'realtime-agents[fast]'"
        ) from error


def _worker_main(
    pipe: Connection,
    host: str,
    port: int,
    load_engines: EngineFactory,
    options: ServerOptions,
    event_loop: str,
) -> None:
    """One worker: load engines, serve until the supervisor says stop (or goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which stops us

    async def run() -> None:
        engines = await asyncio.to_thread(load_engines)
        server = RealtimeServer(host, port, engines, options, reuse_port=True)
        await server.start()
        gc.freeze()  # modules and engines live as long as the worker: full collections skip them
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(pipe.fileno(), stop.set)  # "stop", or EOF when the supervisor dies
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        pipe.send(("ready", server.port))
        try:
            await stop.wait()
        finally:
            loop.remove_reader(pipe.fileno())
            await server.close()

    try:
        run_loop(run(), event_loop)
    except Exception as error:
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{type(error).__name__}: {error}"))
        raise SystemExit(1) from error
