"""`realtime-agents`: `serve` the local realtime server, run the offline `demo`, or `talk`."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import Any, Final

from . import __version__
from .preflight import (
    ENGINE_KINDS,
    CommandLineParser,
    DefaultsHelpFormatter,
    PreflightError,
    command_with,
    port_number,
    positive_float,
    positive_int,
    report,
)
from .server.app import API_KEY_ENV, ServerOptions
from .server.capacity import EMBEDDED_CONCURRENT_RESPONSES
from .serving import EXIT_INTERRUPTED, serve_command
from .serving import ready_message as ready_message
from .serving import server_options as server_options

LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
EXIT_USAGE: Final = 2
HELP_FORMAT: Final = DefaultsHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = CommandLineParser(
        prog="realtime-agents", description=__doc__, formatter_class=HELP_FORMAT
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_command(commands)
    add_demo_command(commands)
    add_talk_command(commands)
    add_example_command(commands)
    return parser


def add_serve_command(commands: Any) -> None:
    """`serve` and its flags."""
    serve = commands.add_parser(
        "serve",
        help="run the local OpenAI-Realtime-compatible server",
        description="Run the local OpenAI-Realtime-compatible server until Ctrl-C.",
        formatter_class=HELP_FORMAT,
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind")
    serve.add_argument("--port", type=port_number, default=8765, help="port (0 = any free port)")
    serve.add_argument(
        "--api-key",
        default=None,
        help=f"bearer token clients must send (unset: ${API_KEY_ENV}, or none on loopback); "
        "required beyond loopback",
    )
    serve.add_argument(
        "--engines",
        choices=ENGINE_KINDS,
        default="embedded",
        help="embedded: offline models ([local] and [piper] extras); scripted: deterministic "
        "fakes, no models; http: OpenAI-compatible endpoints (--config)",
    )
    serve.add_argument(
        "--config", default=None, help="JSON engine config file (docs/configuration.md)"
    )
    defaults = ServerOptions()
    serve.add_argument(
        "--max-frame-bytes",
        type=positive_int,
        default=defaults.max_frame_bytes,
        help="largest client frame; larger ones get message_too_large",
    )
    serve.add_argument(
        "--max-audio-buffer-ms",
        type=positive_int,
        default=defaults.max_audio_buffer_ms,
        help="uncommitted input audio per session",
    )
    serve.add_argument(
        "--max-conversation-items",
        type=positive_int,
        default=defaults.max_conversation_items,
        help="items per conversation",
    )
    serve.add_argument(
        "--max-retained-audio-bytes",
        type=positive_int,
        default=defaults.max_retained_audio_bytes,
        help="audio a session keeps for conversation.item.retrieve (oldest dropped first)",
    )
    serve.add_argument(
        "--max-sessions",
        type=positive_int,
        default=defaults.max_sessions,
        help="concurrent sessions (shared among --workers)",
    )
    serve.add_argument(
        "--max-conversation-bytes",
        type=positive_int,
        default=defaults.max_conversation_bytes,
        help="bytes of items per conversation (conversation_max_bytes_exceeded)",
    )
    serve.add_argument(
        "--max-out-of-band-responses",
        type=positive_int,
        default=defaults.max_out_of_band_responses,
        help="out-of-band responses in progress per session",
    )
    serve.add_argument(
        "--max-concurrent-responses",
        type=non_negative_int,
        default=None,
        help="responses in progress across sessions; past it turns get server_at_capacity "
        f"(default: {EMBEDDED_CONCURRENT_RESPONSES} when every engine is embedded, else no "
        "limit; 0: no limit)",
    )
    serve.add_argument(
        "--max-write-buffer-bytes",
        type=positive_int,
        default=defaults.max_write_buffer_bytes,
        help="unsent bytes per client beyond which the server stops reading it",
    )
    serve.add_argument(
        "--write-timeout",
        type=positive_float,
        default=defaults.write_timeout,
        help="a client that takes no data this long while data waits is disconnected",
    )
    serve.add_argument(
        "--max-session-seconds",
        type=positive_float,
        default=defaults.max_session_seconds,
        help="session lifetime",
    )
    serve.add_argument(
        "--worker-threads",
        type=positive_int,
        default=defaults.worker_threads,
        help="threads shared by all sessions for engine calls",
    )
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=defaults.workers,
        help="server processes sharing the port via SO_REUSEPORT; each loads its own engines "
        "(their memory is paid per worker) and takes a share of --max-sessions",
    )
    serve.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the server process(es); uvloop ([fast] extra) uses less CPU",
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
    add_logging_flags(serve)


def add_logging_flags(command: argparse.ArgumentParser) -> None:
    """`--log-level`, `-v` (debug, with tracebacks) and `-q` (warnings only, no progress)."""
    command.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        help="log level; debug also prints tracebacks",
    )
    command.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const="debug",
        help="same as --log-level debug",
    )
    command.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const="warning",
        help="same as --log-level warning: no progress lines",
    )


def add_demo_command(commands: Any) -> None:
    """`demo` (it parses its own options, including --help)."""
    demo = commands.add_parser("demo", help="run the offline voice demo", add_help=False)
    demo.add_argument("args", nargs=argparse.REMAINDER)


def add_talk_command(commands: Any) -> None:
    """`talk` (it parses its own options, including --help)."""
    talk = commands.add_parser("talk", help="talk through the microphone", add_help=False)
    talk.add_argument("args", nargs=argparse.REMAINDER)


def add_example_command(commands: Any) -> None:
    """`example`: list, print or run the example scripts."""
    example = commands.add_parser(
        "example",
        help="list, print or run the example scripts",
        description="List the examples, print one's source, or run one with its arguments.",
        formatter_class=HELP_FORMAT,
    )
    example.add_argument("name", nargs="?", help="the example (a unique prefix is enough)")
    example.add_argument("arguments", nargs=argparse.REMAINDER, help="the example's arguments")
    example.add_argument(
        "--source", action="store_true", help="print the example's source instead of running it"
    )


def non_negative_int(text: str) -> int:
    """An argparse type: 0 or a whole number above it."""
    return 0 if text.strip() == "0" else positive_int(text)


def interrupt_now(stderr_fd: int, signum: int, frame: FrameType | None) -> None:
    """SIGINT outside serving (loading, checks, the demo): stop at once with exit code 130.

    Model loading runs in native code that cannot be cancelled; waiting for it would keep
    Ctrl-C waiting for seconds, so the process ends without unwinding (worker processes are
    terminated first). The message goes to a copy of the original stderr: llama-cpp-python
    points fd 2 at /dev/null while it loads a model."""
    with contextlib.suppress(Exception):
        for child in multiprocessing.active_children():
            child.terminate()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(stderr_fd, b"\ninterrupted\n")  # print() may be mid-write in a thread
    os._exit(EXIT_INTERRUPTED)


def install_interrupt_handler() -> None:
    """Make Ctrl-C end the process at once (only possible on the main thread)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, functools.partial(interrupt_now, os.dup(2)))


def one_line(error: BaseException) -> str:
    """An unexpected error as one short line."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:300]}"


def demo_command(argv: Sequence[str]) -> int:
    """`realtime-agents demo ...`: the demo parses its own options."""
    demo = importlib.import_module("realtime_agents.demo")
    return int(demo.main(list(argv)) or 0)


def talk_command(argv: Sequence[str]) -> int:
    """`realtime-agents talk ...`: talk parses its own options and handles Ctrl-C itself.

    Talk ends a conversation cleanly on Ctrl-C (the replies so far are written), so the
    exit-at-once handler used while loading does not apply to it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    talk = importlib.import_module("realtime_agents.talk.command")
    return int(talk.main(list(argv)))


def example_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`realtime-agents example [--source] [NAME [ARGS...]]`."""
    from . import example_files

    if args.name is None:
        print(example_files.listing())
        return 0
    path = example_files.find(args.name)
    if args.source:
        print(path.read_text(encoding="utf-8"), end="")
        return 0
    try:
        example_files.run(path, args.arguments)
    except ConnectionError as error:
        raise PreflightError(
            f"{one_line(error)} (is the server running?)", "realtime-agents serve"
        ) from None
    return 0


COMMANDS: Final = {"serve": serve_command, "example": example_command}
"""Subcommands parsed here (the demo parses its own options)."""


def run_command(argv: Sequence[str]) -> int:
    """Parse `argv` and run its command; a user's mistake becomes one `error:` line."""
    if argv[:1] == ["demo"]:
        log_level: str | None = None
        run = functools.partial(demo_command, argv[1:])
    elif argv[:1] == ["talk"]:
        log_level = None
        run = functools.partial(talk_command, argv[1:])
    else:
        args = build_parser().parse_args(argv)
        log_level = getattr(args, "log_level", None)
        logging.basicConfig(
            level=(log_level or "info").upper(), format="%(levelname)s %(name)s: %(message)s"
        )
        if log_level != "debug":  # the ready message says where the server listens
            logging.getLogger("websockets.server").setLevel(logging.WARNING)
        run = functools.partial(COMMANDS[args.command], args, argv)
    try:
        return run()
    except PreflightError as error:
        report(error)
        return EXIT_USAGE
    except Exception as error:
        if log_level == "debug":
            traceback.print_exc()
        # Only commands with a --log-level flag can show the traceback.
        can_debug = log_level is not None and log_level != "debug"
        hint = command_with(argv, "--log-level", "debug") if can_debug else None
        report(PreflightError(f"{argv[0]} stopped: {one_line(error)}", hint))
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `realtime-agents` command."""
    install_interrupt_handler()
    try:
        return run_command(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
