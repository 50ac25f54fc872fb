"""`realtime-agents talk`: a spoken conversation through the microphone and speakers.

Without `--url` it loads the embedded engines and starts the local server in this process;
with `--url` it talks to any OpenAI-Realtime-compatible endpoint (`--api-key`, else
`OPENAI_API_KEY`). It prints both sides' words, tool calls and each turn's latency. Echo
cancellation (WebRTC AEC3) is on by default because open speakers feed the assistant's voice
back into the microphone; `--no-aec` turns it off for headsets. `--input-wav`/`--output-wav`
run the same conversation on files instead of the sound card.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..preflight import add_engine_arguments, check_engines, parse_config
from .devices import DeviceAudioPort, NoAudioDeviceError
from .display import Display
from .echo import MissingTalkExtraError, make_echo_canceller
from .files import EchoPath, FileAudioPort, InputCue, load_wav_24k
from .playback import Playback
from .ports import AudioPort
from .session import TalkResult, converse
from .turns import TurnState

EXIT_INTERRUPTED: Final = 130
FILE_HINT: Final = "realtime-agents talk --input-wav question.wav --output-wav reply.wav"


def build_parser() -> argparse.ArgumentParser:
    """The `talk` command line."""
    parser = argparse.ArgumentParser(
        prog="realtime-agents talk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=None, help="a realtime endpoint (default: local server)")
    parser.add_argument("--api-key", default=None, help="its key (default: $OPENAI_API_KEY)")
    add_engine_arguments(parser, "the local server started without --url")
    parser.add_argument(
        "--no-aec", dest="aec", action="store_false", help="no echo cancellation (headsets)"
    )
    parser.add_argument(
        "--input-wav",
        action="append",
        default=[],
        metavar="FILE",
        help="speak this 16-bit WAV instead of the microphone; repeat for more questions, each "
        "spoken once the previous reply has finished",
    )
    parser.add_argument(
        "--output-wav",
        default=None,
        metavar="FILE",
        help="write what the assistant said here instead of the speakers",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="with --input-wav: run this many times faster than realtime",
    )
    parser.add_argument(
        "--echo-path",
        type=EchoPath.parse,
        default=None,
        metavar="MS:DB",
        help="with --input-wav: mix the output back into the input, MS later and DB quieter "
        "(simulates open speakers, to try the echo cancellation)",
    )
    parser.add_argument("--input-device", default=None, help="PortAudio input device (name/id)")
    parser.add_argument("--output-device", default=None, help="PortAudio output device")
    parser.add_argument("--instructions", default=None, help="the assistant's instructions")
    parser.add_argument(
        "--silence-ms",
        type=int,
        default=500,
        help="server VAD silence that ends a turn (default 500)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="stop after this many seconds of audio (default: files 300, microphone never)",
    )
    return parser


def _device(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.isdigit() else value


def _tool_handler(name: str, arguments: Mapping[str, Any]) -> Any:
    from ..demo import get_weather

    if name == "get_weather":
        return get_weather(str(arguments.get("city", "")))
    return {"error": f"unknown tool {name}"}


handshake_logger = logging.getLogger("websockets.server")


def _ignore_dropped_handshakes(record: logging.LogRecord) -> bool:
    """Ctrl-C while connecting drops our own handshake; the in-process server need not log it."""
    return record.getMessage() != "opening handshake failed"


def open_port(args: argparse.Namespace, playback: Playback, turns: TurnState) -> AudioPort:
    """The sound card, or the files standing in for it."""
    if not args.input_wav:
        if args.output_wav or args.echo_path or args.speed != 1.0:
            raise SystemExit("error: --output-wav, --echo-path and --speed need --input-wav")
        return DeviceAudioPort(
            playback,
            input_device=_device(args.input_device),
            output_device=_device(args.output_device),
        )
    cues = [
        InputCue(load_wav_24k(path), "now" if index == 0 else "after_reply")
        for index, path in enumerate(args.input_wav)
    ]
    return FileAudioPort(
        cues, playback, turns, output_path=args.output_wav, speed=args.speed, echo=args.echo_path
    )


async def run_talk(args: argparse.Namespace, out: Any) -> TalkResult:
    """Open the audio, start the local server unless `--url`, and converse until done."""
    from ..demo import session_settings

    playback = Playback()
    turns = TurnState()
    port = open_port(args, playback, turns)  # no device: fail before loading any model
    if isinstance(port, DeviceAudioPort):
        port.open()
    try:
        echo = make_echo_canceller(args.aec, delay_ms=port.delay_hint_ms)
    except BaseException:
        await port.close()
        raise
    settings = session_settings(args.silence_ms)
    if args.instructions:
        settings["instructions"] = args.instructions
    display = Display(out)
    server: Any = None
    url, api_key = args.url, args.api_key or os.environ.get("OPENAI_API_KEY")
    try:
        if url is None:
            from ..demo import start_local_server

            display.notice(f"loading the {args.engines} engines (the first run takes a while)...")
            config = parse_config(args.engine_config or "{}", "--engine-config")
            handshake_logger.addFilter(_ignore_dropped_handshakes)
            server, _engines, seconds = await start_local_server(args.engines, config)
            url, api_key = server.url + "?model=local", "local"
            display.notice(f"local server ready in {seconds:.1f} s at {server.url}")
        ready = f"talking through {port.description} (echo cancellation: {echo.name}); Ctrl-C stops"
        limit = (
            args.timeout if args.timeout is not None else (300.0 if args.input_wav else math.inf)
        )
        return await converse(
            settings, port, playback, echo, display, _tool_handler,
            url=url, api_key=api_key, turns=turns, max_seconds=limit, ready_message=ready,
        )  # fmt: skip
    finally:
        await port.close()
        if server is not None:
            await server.close()
        handshake_logger.removeFilter(_ignore_dropped_handshakes)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `talk`; 0 after a finished conversation, 130 on Ctrl-C, 1/2 on failures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if args.url is None:  # a bad engine config is one line, before any device or model opens
        check_engines(
            args.engines, parse_config(args.engine_config or "{}", "--engine-config"), "talk"
        )
    try:
        result = asyncio.run(run_talk(args, sys.stdout))
    except KeyboardInterrupt:
        print("\nstopped (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NoAudioDeviceError as error:
        print(
            f"error: no audio device: {error}; talk from files instead: {FILE_HINT}",
            file=sys.stderr,
        )
        return 2
    except (MissingTalkExtraError, RuntimeError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, MissingTalkExtraError | RuntimeError) else 1
    if args.output_wav:
        print(f"wrote the assistant's audio to {args.output_wav}")
    if result.timed_out:
        print("error: the conversation timed out (see --timeout)", file=sys.stderr)
    if result.ended_by_server:
        print(f"error: the server ended the session: {result.ended_by_server}", file=sys.stderr)
    return 1 if result.timed_out or result.ended_by_server else 0
