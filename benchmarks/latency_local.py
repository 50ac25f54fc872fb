"""End of user speech to first assistant audio on the embedded models, with server VAD.

    python benchmarks/latency_local.py [--turns 20] [--tool-turns 4] [--silence-ms 200]

Starts the local realtime server in-process with the embedded engines (silero, whisper tiny.en,
SmolLM2-135M, piper), connects this project's OpenAI Realtime client, registers a `get_weather`
tool and speaks questions at realtime pace in 20 ms chunks, then silence, like a live
microphone. Latency per turn = arrival of the first `response.output_audio.delta` at the client
minus the moment the last voiced sample of the question was spoken. The client waits for each
reply to finish "playing" before it asks the next question, so no turn is a barge-in.

Plain questions (the router answers "none" and the replier speaks) give p50/p95. Tool turns
("What's the weather in Paris?": router -> function call -> client output -> spoken answer)
are reported separately. Prints the model load time before the first `session.created` and the
machine's load average, since the two cores are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents import demo
from realtime_agents.audio import resample_pcm16

PLAIN_QUESTIONS = (
    "How many legs does a spider have?",
    "What color is the sky?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet?",
    "Name a fruit that is yellow.",
)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def spoken_questions(engines: object) -> list[demo.SpokenQuestion]:
    """The bundled capital question plus a few more spoken by the project's piper voice."""
    questions = [demo.load_question("capital")]
    tts = getattr(engines, "tts", None)
    if tts is None:
        return questions
    for text in PLAIN_QUESTIONS:
        pcm = b"".join(tts.synthesize(text, voice=None, speed=1.0, cancel=threading.Event()))
        pcm = resample_pcm16(pcm, tts.sample_rate, demo.SAMPLE_RATE)
        lead = bytes(demo.SAMPLE_RATE // 5 * 2)  # 200 ms of silence before the question
        voiced = _voiced_end(pcm)
        questions.append(
            demo.SpokenQuestion(text, lead + pcm[: voiced * 2], len(lead) // 2 + voiced)
        )
    return questions


def _voiced_end(pcm: bytes) -> int:
    import numpy as np

    samples = np.abs(np.frombuffer(pcm, dtype=np.int16).astype(np.int32))
    voiced = np.nonzero(samples > demo.VOICED_LEVEL * 32768)[0]
    return int(voiced[-1]) + 1 if voiced.size else len(samples)


class StageClock:
    """Wraps the engines' methods to time each stage of a turn (the `--stages` option)."""

    def __init__(self, engines: Any) -> None:
        self.marks: dict[str, float] = {}
        stt, llm, tts = engines.stt, engines.llm, engines.tts
        transcribe, generate, synthesize = stt.transcribe, llm.generate, tts.synthesize

        def timed_transcribe(*args: Any, **kwargs: Any) -> Any:
            self.marks.setdefault("stt", time.perf_counter())
            text = transcribe(*args, **kwargs)
            self.marks.setdefault("stt done", time.perf_counter())
            return text

        def timed_generate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            self.marks.setdefault("llm", time.perf_counter())
            for chunk in generate(*args, **kwargs):
                self.marks.setdefault("llm 1st", time.perf_counter())
                yield chunk

        def timed_synthesize(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            self.marks.setdefault("tts", time.perf_counter())
            for pcm in synthesize(*args, **kwargs):
                self.marks.setdefault("tts 1st", time.perf_counter())
                yield pcm

        stt.transcribe, llm.generate, tts.synthesize = (
            timed_transcribe,
            timed_generate,
            timed_synthesize,
        )

    def line(self, speech_end: float) -> str:
        """Each stage's start, in ms after the end of speech."""
        marks = sorted(self.marks.items(), key=lambda item: item[1])
        self.marks.clear()
        return " ".join(f"{name}={(at - speech_end) * 1000:.0f}" for name, at in marks)


def report(name: str, latencies: list[float]) -> None:
    """One summary line."""
    if not latencies:
        print(f"{name}: no turns produced audio")
        return
    print(
        f"{name}: n={len(latencies)} p50={percentile(latencies, 0.5):.0f} ms "
        f"p95={percentile(latencies, 0.95):.0f} ms mean={statistics.fmean(latencies):.0f} ms "
        f"min={min(latencies):.0f} ms max={max(latencies):.0f} ms"
    )


async def run(args: argparse.Namespace) -> int:
    """Load, connect, run the turns and print the figures."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    config = json.loads(args.engine_config) if args.engine_config else {}
    server, engines, _load_seconds = await demo.start_local_server("embedded", config)
    model, collector = await demo.connect_client(server.url, args.silence_ms)
    ready = time.perf_counter() - started
    print(f"model load + warm-up until session.created: {ready:.2f} s")
    questions = spoken_questions(engines)
    stages = StageClock(engines) if args.stages else None
    weather = demo.load_question("weather")
    plain: list[float] = []
    tools: list[float] = []
    failures = 0
    try:
        schedule: list[tuple[bool, demo.SpokenQuestion]] = []
        every = max(1, args.turns // max(1, args.tool_turns))
        for index in range(args.turns):
            schedule.append((False, questions[index % len(questions)]))
            if (index + 1) % every == 0 and sum(t for t, _ in schedule) < args.tool_turns:
                schedule.append((True, weather))
        for index, (is_tool_turn, question) in enumerate(schedule):
            turn = await demo.run_turn(model, collector, question, turn_seconds=args.timeout)
            latency = turn.latency_ms
            tool = ",".join(name for name, _, _ in turn.tool_calls) or "-"
            print(
                f"turn {index + 1:2d} {latency if latency is not None else float('nan'):6.0f} ms"
                f"  tool={tool:11s} heard={turn.user_transcript!r}"
                f" said={turn.assistant_transcript!r}"
                + (f" errors={turn.errors}" if turn.errors else ""),
                flush=True,
            )
            if stages is not None:
                print(f"         stages (ms after end of speech): {stages.line(turn.speech_end)}")
            if latency is None:
                failures += 1
            elif is_tool_turn:
                tools.append(latency)
            else:
                plain.append(latency)
    finally:
        await model.close()
        await server.close()
    load_after = os.getloadavg()
    print()
    print(f"silence_duration_ms={args.silence_ms} engine config={config}")
    report("plain turns (end of speech -> first audio delta)", plain)
    report("tool turns  (end of speech -> tool call -> first audio delta)", tools)
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 cores); "
        f"turns without audio: {failures}"
    )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="plain question turns")
    parser.add_argument("--tool-turns", type=int, default=4, help="weather (tool call) turns")
    parser.add_argument("--silence-ms", type=int, default=200, help="server VAD silence")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--stages", action="store_true", help="print each stage's start time")
    parser.add_argument(
        "--engine-config",
        default="",
        help='engine overrides as JSON, e.g. \'{"llm": {"first_clause_threads": 1}}\'',
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
