"""`realtime-agents demo`: an offline voice conversation with the local realtime server.

It loads the embedded models, starts the server on a free loopback port, connects with this
project's OpenAI Realtime client, registers a `get_weather` tool that the demo answers itself,
and streams two bundled spoken questions at realtime pace (20 ms chunks) with server VAD. For
each turn it prints what the server heard, the tool call, what the assistant said, and the time
from the end of speech (the last voiced sample of the WAV) to the first audio delta received.
The assistant's audio is written to `out/reply.wav`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Final

import numpy as np

from realtime_agents.audio import read_wav, resample_pcm16, write_wav
from realtime_agents.events import (
    RealtimeModelAudioEvent,
    RealtimeModelErrorEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
)
from realtime_agents.inputs import RealtimeModelSendAudio, RealtimeModelSendToolOutput
from realtime_agents.model import RealtimeModel, RealtimeModelListener
from realtime_agents.preflight import (
    CommandLineParser,
    DefaultsHelpFormatter,
    PreflightError,
    add_engine_arguments,
    check_engines,
    parse_config,
)
from realtime_agents.settings import FunctionToolDefinition, RealtimeSessionModelSettings

SAMPLE_RATE: Final = 24_000
CHUNK_MS: Final = 20
VOICED_LEVEL: Final = 0.02
"""A sample louder than this (of full scale) counts as voiced when finding the end of speech."""
QUESTIONS: Final = {
    "weather": "question_weather.wav",  # "What's the weather in Paris?"
    "capital": "question_capital.wav",  # "What is the capital of France?"
}
INSTRUCTIONS: Final = "You are a friendly voice assistant. Keep every answer to one sentence."
WEATHER_TOOL: Final[FunctionToolDefinition] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city name."}},
        "required": ["city"],
    },
}


def get_weather(city: str) -> dict[str, Any]:
    """The demo's local stand-in for a weather service."""
    return {"city": city, "conditions": "sunny", "temperature_c": 21}


def session_settings(silence_duration_ms: int) -> RealtimeSessionModelSettings:
    """Instructions, the weather tool, server VAD and input transcription."""
    return {
        "instructions": INSTRUCTIONS,
        "output_modalities": ["audio"],
        "tools": [WEATHER_TOOL],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": silence_duration_ms,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}},
        },
    }


@dataclass(frozen=True, slots=True)
class SpokenQuestion:
    """A question as 24 kHz PCM16 and the index just past its last voiced sample."""

    name: str
    pcm: bytes
    voiced_end: int


def load_question(name_or_path: str) -> SpokenQuestion:
    """A bundled question (`weather`, `capital`) or any 16-bit WAV file."""
    if name_or_path in QUESTIONS:
        path = str(files("realtime_agents") / "data" / QUESTIONS[name_or_path])
    else:
        path = name_or_path
    pcm, rate = read_wav(path)
    pcm = resample_pcm16(pcm, rate, SAMPLE_RATE)
    samples = np.frombuffer(pcm, dtype=np.int16)
    voiced = np.nonzero(np.abs(samples.astype(np.int32)) > VOICED_LEVEL * 32768)[0]
    if voiced.size == 0:
        raise ValueError(f"{path} holds no speech (nothing above {VOICED_LEVEL:.0%} of full scale)")
    return SpokenQuestion(os.path.basename(name_or_path), pcm, int(voiced[-1]) + 1)


@dataclass(slots=True)
class TurnResult:
    """What happened in one spoken turn."""

    question: str
    user_transcript: str = ""
    assistant_transcript: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    """(name, arguments, output) of each tool call the demo answered."""
    latency_ms: float | None = None
    """End of speech to the first audio delta of the turn."""
    speech_end: float = 0.0
    """`time.perf_counter()` when the last voiced sample was spoken."""
    audio: bytearray = field(default_factory=bytearray)
    errors: list[str] = field(default_factory=list)


class EventCollector(RealtimeModelListener):
    """Queues every model event with the time it arrived."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

    async def on_event(self, event: Any) -> None:
        """Record the arrival time first, so queueing does not count as latency."""
        self.queue.put_nowait((time.perf_counter(), event))


async def _stream_audio(
    model: RealtimeModel, question: SpokenQuestion, stop: asyncio.Event, started: float
) -> None:
    """Send the question in 20 ms chunks at realtime pace, then silence until `stop`."""
    step = SAMPLE_RATE * CHUNK_MS // 1000 * 2
    silence = bytes(step)
    index = 0
    while not stop.is_set():
        chunk = question.pcm[index * step : (index + 1) * step] or silence
        if len(chunk) < step:
            chunk += bytes(step - len(chunk))
        # A microphone delivers a chunk once its last sample has been spoken.
        delay = started + (index + 1) * CHUNK_MS / 1000 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await model.send_event(RealtimeModelSendAudio(audio=chunk))
        index += 1


ToolHandler = Callable[[str, Mapping[str, Any]], Any]


def _answer_tool(name: str, arguments: Mapping[str, Any]) -> Any:
    if name == "get_weather":
        return get_weather(str(arguments.get("city", "")))
    return {"error": f"unknown tool {name}"}


async def run_turn(
    model: RealtimeModel,
    collector: EventCollector,
    question: SpokenQuestion,
    *,
    turn_seconds: float = 60.0,
    tool_handler: ToolHandler = _answer_tool,
) -> TurnResult:
    """Speak one question and collect the turn until a response ends without a pending tool."""
    result = TurnResult(question.name)
    while not collector.queue.empty():
        collector.queue.get_nowait()
    stop = asyncio.Event()
    started = time.perf_counter()
    speech_end = result.speech_end = started + question.voiced_end / SAMPLE_RATE
    sender = asyncio.create_task(_stream_audio(model, question, stop, started))
    pending_tool = False
    first_audio = 0.0
    try:
        while True:
            remaining = started + turn_seconds - time.perf_counter()
            if sender.done():
                problem = sender.exception()
                result.errors.append(f"streaming the question stopped: {problem!r}")
                break
            if remaining <= 0:
                result.errors.append("timed out waiting for the reply")
                break
            try:
                arrived, event = await asyncio.wait_for(collector.queue.get(), remaining)
            except TimeoutError:
                continue
            if isinstance(event, RealtimeModelInputAudioTranscriptionCompletedEvent):
                result.user_transcript = event.transcript
            elif isinstance(event, RealtimeModelToolCallEvent):
                arguments = json.loads(event.arguments or "{}")
                output = json.dumps(tool_handler(event.name, arguments))
                result.tool_calls.append((event.name, event.arguments, output))
                pending_tool = True
                await model.send_event(RealtimeModelSendToolOutput(event, output))
            elif isinstance(event, RealtimeModelAudioEvent):
                if result.latency_ms is None:
                    result.latency_ms = (arrived - speech_end) * 1000
                    first_audio = arrived
                result.audio.extend(event.data)
            elif isinstance(event, RealtimeModelTranscriptDoneEvent):
                result.assistant_transcript = (
                    result.assistant_transcript + " " + event.transcript
                ).strip()
            elif isinstance(event, RealtimeModelErrorEvent):
                result.errors.append(str(event.error))
            elif isinstance(event, RealtimeModelTurnEndedEvent):
                if pending_tool and not result.audio:
                    pending_tool = False  # the follow-up response is on its way
                    continue
                break
        # Listen to the whole reply before the next question: speaking while it still plays
        # would be a barge-in, and the server would truncate the reply to what was heard.
        playback_end = first_audio + len(result.audio) / (2 * SAMPLE_RATE) + 0.2
        await asyncio.sleep(max(0.0, playback_end - time.perf_counter()))
    finally:
        stop.set()
        if not sender.done() or not sender.exception():
            await sender
    return result


def _print_turn(turn: TurnResult, out: Any) -> None:
    print(f"\n[{turn.question}]", file=out)
    print(f"  you said:    {turn.user_transcript!r}", file=out)
    for name, arguments, output in turn.tool_calls:
        print(f"  tool call:   {name}({arguments}) -> {output}", file=out)
    print(f"  assistant:   {turn.assistant_transcript!r}", file=out)
    if turn.latency_ms is not None:
        via = " via the tool call" if turn.tool_calls else ""
        print(
            f"  latency:     {turn.latency_ms:.0f} ms (end of speech -> first audio{via})",
            file=out,
        )
    for error in turn.errors:
        print(f"  error:       {error}", file=out)


async def start_local_server(
    engine_kind: str, engine_config: Mapping[str, Any]
) -> tuple[Any, Any, float]:
    """Load the engines and start the server on a free loopback port: (server, engines, s)."""
    from realtime_agents.server import PreparingLanguageModel, ServerOptions, serve
    from realtime_agents.server.engines.loader import load_engines

    loading = time.perf_counter()
    engines = await asyncio.to_thread(load_engines, engine_kind, engine_config)
    llm = engines.llm
    if isinstance(llm, PreparingLanguageModel):  # prefill the tool router and instructions once
        await asyncio.to_thread(llm.prepare, [WEATHER_TOOL], "auto", INSTRUCTIONS)
    load_seconds = time.perf_counter() - loading
    server = await serve("127.0.0.1", 0, engines, ServerOptions(api_key=None))
    return server, engines, load_seconds


async def connect_client(
    url: str, silence_duration_ms: int
) -> tuple[RealtimeModel, EventCollector]:
    """This project's OpenAI Realtime client, connected to `url` with the demo's settings."""
    from realtime_agents.providers.openai.websocket import OpenAIRealtimeWebSocketModel

    model = OpenAIRealtimeWebSocketModel()
    collector = EventCollector()
    model.add_listener(collector)
    await model.connect(
        {
            "url": url + "?model=local",
            "api_key": "local",
            "initial_model_settings": session_settings(silence_duration_ms),
        }
    )
    return model, collector


async def run_demo(
    args: argparse.Namespace,
    config: Mapping[str, Any] | None = None,
    questions: Sequence[SpokenQuestion] | None = None,
) -> tuple[int, bytes]:
    """Start the server, run the questions and print each turn: (failures, reply audio)."""
    out = sys.stdout
    if config is None:
        config = json.loads(args.engine_config) if args.engine_config else {}
    if questions is None:
        questions = [load_question(name) for name in args.questions]
    print("Loading the offline models (first run takes a few seconds)...", file=out, flush=True)
    server, _engines, load_seconds = await start_local_server(args.engines, config)
    print(f"Models ready in {load_seconds:.1f} s; server at {server.url}", file=out, flush=True)
    model: RealtimeModel | None = None
    failures = 0
    reply = bytearray()
    try:
        model, collector = await connect_client(server.url, args.silence_ms)
        for question in questions:
            turn = await run_turn(model, collector, question, turn_seconds=args.timeout)
            _print_turn(turn, out)
            failures += bool(turn.errors) or turn.latency_ms is None
            reply.extend(turn.audio)
            reply.extend(bytes(SAMPLE_RATE // 2 * 2))  # half a second between replies
    finally:
        if model is not None:
            await model.close()
        await server.close()
    return failures, bytes(reply)


def checked_question(name_or_path: str) -> SpokenQuestion:
    """`load_question`, or a PreflightError naming the file and a bundled question to try."""
    try:
        return load_question(name_or_path)
    except FileNotFoundError:
        message = (
            f"{name_or_path} is neither a WAV file nor a bundled question ({', '.join(QUESTIONS)})"
        )
    except (OSError, ValueError) as error:
        message = " ".join(str(error).split())
    raise PreflightError(message, "realtime-agents demo " + " ".join(QUESTIONS))


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    parser = CommandLineParser(
        prog="realtime-agents demo",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "questions",
        nargs="*",
        default=list(QUESTIONS),
        help="bundled question names (weather, capital) or 16-bit WAV paths",
    )
    parser.add_argument(
        "--out", default=os.path.join("out", "reply.wav"), help="where to write the replies"
    )
    add_engine_arguments(parser, "the local server")
    parser.add_argument(
        "--silence-ms", type=int, default=200, help="server VAD silence_duration_ms"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per turn")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the offline voice demo; 0 when every turn produced audio."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    config = parse_config(args.engine_config or "{}", "--engine-config")
    check_engines(args.engines, config, "demo")
    questions = [checked_question(name) for name in args.questions]
    try:
        failures, reply = asyncio.run(run_demo(args, config, questions))
    except RuntimeError as error:  # a missing extra or model, explained by the loader
        print(f"error: {error}", file=sys.stderr)
        return 2
    if reply:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_wav(args.out, reply, SAMPLE_RATE)
        print(f"\nWrote the assistant's audio to {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
