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
    """Times each stage of a turn (the `--stages` option) by wrapping engine and server methods.

    Marks, in ms after the end of speech: `spec` (speculation starts at the first silent frame),
    `stt`/`stt done`, `route`/`route done` (the tool router), `prefill`/`prefill done` (the
    replier's prompt), `llm 1st` (first text token), `tts` (first clause cut), `tts 1st` (first
    PCM), `adopt` (the confirmed turn end takes over the speculation) and `sent` (the socket
    writer takes the first audio delta). The client's arrival time is the turn's latency.
    """

    def __init__(self, engines: Any) -> None:
        from realtime_agents.server import pipeline, speculation_shell

        self.marks: dict[str, float] = {}
        self.decode_ms: list[float] = []
        self.prefill_tokens = 0
        stt, llm, tts = engines.stt, engines.llm, engines.tts
        transcribe, generate, synthesize = stt.transcribe, llm.generate, tts.synthesize
        mark = self.mark

        def timed_transcribe(*args: Any, **kwargs: Any) -> Any:
            mark("stt")
            text = transcribe(*args, **kwargs)
            mark("stt done")
            return text

        def timed_generate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            mark("llm")
            for chunk in generate(*args, **kwargs):
                mark("llm 1st")
                yield chunk

        def timed_synthesize(*args: Any, **kwargs: Any) -> Iterator[bytes]:
            mark("tts")
            for pcm in synthesize(*args, **kwargs):
                mark("tts 1st")
                yield pcm

        stt.transcribe, llm.generate, tts.synthesize = (
            timed_transcribe,
            timed_generate,
            timed_synthesize,
        )
        router = getattr(llm, "tool_router", None)
        if router is not None:
            route = router.route

            def timed_route(*args: Any, **kwargs: Any) -> Any:
                mark("route")
                call = route(*args, **kwargs)
                mark("route done")
                return call

            router.route = timed_route
        replier = getattr(llm, "_replier", None)
        if replier is not None:
            evaluate = replier.eval

            def timed_eval(tokens: Any) -> None:
                begin = time.perf_counter()
                evaluate(tokens)
                if len(tokens) > 1:
                    if "prefill" not in self.marks:
                        self.prefill_tokens = len(tokens)
                    self.marks.setdefault("prefill", begin)
                    mark("prefill done")
                elif "llm 1st" in self.marks and "tts" not in self.marks:
                    self.decode_ms.append((time.perf_counter() - begin) * 1000)

            replier.eval = timed_eval
        speculations = speculation_shell.Speculations
        begin, adopt = speculations.begin, speculations.adopt

        def timed_begin(this: Any, effect: Any) -> None:
            self.marks.clear()
            self.decode_ms.clear()
            mark("spec")
            begin(this, effect)

        def timed_adopt(this: Any, effect: Any) -> Any:
            task = adopt(this, effect)
            mark("adopt" if task is not None else "no adopt")
            return task

        speculations.begin = timed_begin  # type: ignore[method-assign]
        speculations.adopt = timed_adopt  # type: ignore[method-assign]
        next_events = pipeline.SessionPipeline.next_events

        async def timed_next_events(this: Any) -> list[dict[str, Any]]:
            events = await next_events(this)
            if any(e.get("type") == "response.output_audio.delta" for e in events):
                mark("sent")
            return events

        pipeline.SessionPipeline.next_events = timed_next_events  # type: ignore[method-assign]

    def mark(self, name: str) -> None:
        """Record the first time `name` happens in this turn."""
        self.marks.setdefault(name, time.perf_counter())

    def line(self, speech_end: float) -> str:
        """Each stage's time in ms after the end of speech, and the first clause's decode rate."""
        marks = sorted(self.marks.items(), key=lambda item: item[1])
        self.marks.clear()
        text = " ".join(f"{name}={(at - speech_end) * 1000:.0f}" for name, at in marks)
        text += f" | prefill {self.prefill_tokens} tokens"
        if self.decode_ms:
            text += f" | decode {statistics.fmean(self.decode_ms):.1f} ms/token"
            text += f" x{len(self.decode_ms)}"
        self.decode_ms.clear()
        return text


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
        help='engine overrides as JSON, e.g. \'{"llm": {"parallel_router": false}}\'',
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
