"""Speculative turn ends: computed at the first silent frame, released or discarded invisibly."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from server_helpers import Harness, only_start, silence, tone, types

from realtime_agents.server.effects import CancelSpeculation, Speculate, StartResponse
from realtime_agents.server.engines.base import EngineSet, LlmRequest
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    scripted_engine_set,
)
from realtime_agents.server.pipeline import SessionPipeline
from realtime_agents.server.protocol import SessionProtocol

FRAME_MS = 32.0
IDS = {"event_id", "id", "conversation_id", "item_id", "previous_item_id", "response_id", "call_id"}
ENABLE_TRANSCRIPTION = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}},
}


def frames(start_ms: float, count: int, probability: float) -> list[tuple[float, float, float]]:
    return [
        (start_ms + i * FRAME_MS, start_ms + (i + 1) * FRAME_MS, probability) for i in range(count)
    ]


def speculating_harness() -> Harness:
    harness = Harness()
    harness.core.speculator.enabled = True
    harness.send(ENABLE_TRANSCRIPTION)
    harness.send({"type": "input_audio_buffer.append", "audio": _b64(tone(2000))})
    return harness


def _b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


# ---------------------------------------------------------------------- the sans-I/O core


def test_speculates_at_first_silent_frame_and_predicts_the_response() -> None:
    harness = speculating_harness()
    core = harness.core
    out = core.vad_frames(frames(0, 20, 0.9), harness.now)
    assert types(out) == ["input_audio_buffer.speech_started"]
    out = core.vad_frames(frames(640, 1, 0.1), harness.now)
    assert types(out) == ["Speculate"]
    speculate = out[0]
    assert isinstance(speculate, Speculate)
    assert speculate.item_id == core.speech_item_id
    # more silence: no second speculation; the turn ends after silence_duration_ms (200)
    assert core.vad_frames(frames(672, 5, 0.1), harness.now) == []
    out = core.vad_frames(frames(832, 1, 0.1), harness.now)
    assert types(out) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "Transcribe",
        "response.created",
    ]
    transcribe = out[4]
    assert len(transcribe.audio) == speculate.committed_bytes  # type: ignore[union-attr]
    assert transcribe.audio.startswith(speculate.audio)  # type: ignore[union-attr]
    started = only_start(core.transcription_completed(speculate.item_id, "What time is it?"))
    predicted = speculate.start("What time is it?")
    assert isinstance(predicted, StartResponse)
    assert predicted.request == started.request
    assert predicted.request.messages[-1]["content"] == "What time is it?"
    fields = ("output_modalities", "voice", "speed", "output_format")
    assert [getattr(predicted, f) for f in fields] == [getattr(started, f) for f in fields]


def test_speech_resuming_cancels_the_speculation() -> None:
    harness = speculating_harness()
    core = harness.core
    core.vad_frames(frames(0, 10, 0.9), harness.now)
    assert types(core.vad_frames(frames(320, 2, 0.1), harness.now)) == ["Speculate"]
    assert types(core.vad_frames(frames(384, 3, 0.9), harness.now)) == ["CancelSpeculation"]
    assert types(core.vad_frames(frames(480, 1, 0.1), harness.now)) == ["Speculate"]
    harness.send({"type": "input_audio_buffer.clear"})
    out = core.vad_frames(frames(512, 1, 0.1), harness.now)
    assert [type(o) for o in out] == [CancelSpeculation]


def test_no_speculation_unless_the_turn_end_creates_the_response() -> None:
    harness = Harness()  # the shell did not enable it
    harness.send({"type": "input_audio_buffer.append", "audio": _b64(tone(1000))})
    harness.core.vad_frames(frames(0, 10, 0.9), harness.now)
    assert harness.core.vad_frames(frames(320, 1, 0.1), harness.now) == []

    harness = speculating_harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "create_response": False}}
                },
            },
        }
    )
    harness.core.vad_frames(frames(0, 10, 0.9), harness.now)
    assert harness.core.vad_frames(frames(320, 1, 0.1), harness.now) == []

    harness = speculating_harness()
    harness.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}
                },
            },
        }
    )
    harness.user_text("Tell me a story.")
    harness.create_response()  # still active at the turn end, which then creates no response
    harness.core.vad_frames(frames(0, 10, 0.9), harness.now)
    assert harness.core.vad_frames(frames(320, 1, 0.1), harness.now) == []


# ---------------------------------------------------------------------- the pipeline


class RecordingLlm(ScriptedLlm):
    """A scripted LLM (run in a worker thread) that records every request it gets."""

    def __init__(self) -> None:
        super().__init__(reply=lambda text: f"You said: {text} Right, got it.")
        self.requests: list[LlmRequest] = []

    def generate(self, request: LlmRequest, cancel: Any) -> Any:
        self.requests.append(request)
        return super().generate(request, cancel)


def engines(llm: ScriptedLlm) -> EngineSet:
    # up to 0.9 s of audio (the first burst with its lead-in) is "SHORT PART"
    stt = ScriptedStt(default="FULL UTTERANCE", by_duration=[(0.9, "SHORT PART")])
    return scripted_engine_set(stt=stt, llm=llm, tts=ToneTts(chunk_delay_s=0.001))


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<id>" if k in IDS else normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


async def converse(
    engine_set: EngineSet,
    *,
    speculate: bool,
    script: list[tuple[str, int]],
    pause_hook: Callable[[SessionPipeline], bool] | None = None,
    pace_s: float = 0.0,
) -> tuple[list[dict[str, Any]], SessionPipeline]:
    """Stream `script` ([("tone"|"silence"|"pause", ms)]) in 20 ms chunks; return the events.

    After a "pause" (silence), wait until `pause_hook(pipeline)` holds (speculation finished).
    `pace_s`: wall time between chunks (work in worker threads gets done meanwhile).
    """
    core = SessionProtocol(model="test-model", now=0.0)
    pipeline = SessionPipeline(core, engine_set, speculate=speculate)
    events: list[dict[str, Any]] = []
    await pipeline.start()
    await pipeline.receive(ENABLE_TRANSCRIPTION)
    for kind, ms in script:
        audio = tone(ms) if kind == "tone" else silence(ms)
        for begin in range(0, len(audio), 960):
            chunk = audio[begin : begin + 960]
            await pipeline.receive({"type": "input_audio_buffer.append", "audio": _b64(chunk)})
            events += pipeline.pending_events()
            if pace_s:
                await asyncio.sleep(pace_s)
        if kind == "pause" and pause_hook is not None:
            await until(lambda: pause_hook(pipeline))
    await until(lambda: any(e["type"] == "response.done" for e in [*events, *pipeline._outgoing]))
    events += pipeline.pending_events()
    await pipeline.aclose()
    return events, pipeline


def speculation_finished(pipeline: SessionPipeline) -> bool:
    run = pipeline._speculations.current
    return run is not None and run.finished


def test_speculative_response_is_released_when_silence_is_confirmed() -> None:
    script = [("silence", 200), ("tone", 800), ("silence", 400)]
    live_llm, spec_llm = RecordingLlm(), RecordingLlm()
    live, _ = asyncio.run(converse(engines(live_llm), speculate=False, script=script))
    spec_engines = engines(spec_llm)
    spec, _ = asyncio.run(converse(spec_engines, speculate=True, script=script))
    assert normalized(spec) == normalized(live)  # same events, same order, same content
    assert types(spec).count("response.output_audio.delta") > 0
    # the engines ran once: the transcript and the reply came from the speculation
    assert len(spec_llm.requests) == 1
    assert spec_engines.stt._calls == 1  # type: ignore[attr-defined]
    transcripts = [e["transcript"] for e in spec if e["type"].endswith("transcription.completed")]
    assert transcripts == ["FULL UTTERANCE"]


def test_speculation_is_discarded_when_speech_resumes() -> None:
    # a 300 ms burst, a 100 ms pause (shorter than silence_duration_ms), then the rest
    script = [("silence", 200), ("tone", 300), ("pause", 100), ("tone", 500), ("silence", 400)]
    live_llm, spec_llm = RecordingLlm(), RecordingLlm()
    live, _ = asyncio.run(converse(engines(live_llm), speculate=False, script=script))
    spec, _ = asyncio.run(
        converse(engines(spec_llm), speculate=True, script=script, pause_hook=speculation_finished)
    )
    # the speculation on the first burst ran the LLM on "SHORT PART" ...
    assert spec_llm.requests[0].messages[-1]["content"] == "SHORT PART"
    # ... but the client saw no trace of it: the same events as without speculation
    assert normalized(spec) == normalized(live)
    assert "SHORT PART" not in str(spec)
    assert spec_llm.requests[-1].messages[-1]["content"] == "FULL UTTERANCE"
    text = "".join(
        e["delta"] for e in spec if e["type"] == "response.output_audio_transcript.delta"
    )
    assert text.startswith("You said: FULL UTTERANCE")


def test_speculation_is_not_used_for_a_different_request() -> None:
    """A session.update between the pause and the end of the turn: the prediction is stale."""
    script = [("silence", 200), ("tone", 800), ("silence", 60)]
    spec_llm = RecordingLlm()

    async def scenario() -> list[dict[str, Any]]:
        core = SessionProtocol(model="test-model", now=0.0)
        pipeline = SessionPipeline(core, engines(spec_llm), speculate=True)
        events: list[dict[str, Any]] = []
        await pipeline.start()
        for kind, ms in script:
            audio = tone(ms) if kind == "tone" else silence(ms)
            for begin in range(0, len(audio), 960):
                chunk = {
                    "type": "input_audio_buffer.append",
                    "audio": _b64(audio[begin : begin + 960]),
                }
                await pipeline.receive(chunk)
        await until(lambda: speculation_finished(pipeline))
        await pipeline.receive(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
        )
        for _ in range(20):
            chunk = {"type": "input_audio_buffer.append", "audio": _b64(silence(20))}
            await pipeline.receive(chunk)
        await until(lambda: any(e["type"] == "response.done" for e in pipeline._outgoing))
        events += pipeline.pending_events()
        await pipeline.aclose()
        return events

    events = asyncio.run(scenario())
    assert len(spec_llm.requests) == 2  # the speculation, then the real request
    assert spec_llm.requests[-1].messages[0] == {"role": "system", "content": "Be brief."}
    assert spec_llm.requests[0].messages[0] != spec_llm.requests[-1].messages[0]
    done = [e for e in events if e["type"] == "response.done"]
    assert done[0]["response"]["status"] == "completed"


class PrefillingLlm(RecordingLlm):
    """A recording LLM with `prefill`: records the requests it was asked to prefill."""

    def __init__(self) -> None:
        super().__init__()
        self.prefilled: list[LlmRequest] = []

    def prefill(self, request: LlmRequest, cancel: Any) -> None:
        self.prefilled.append(request)


def test_llm_is_prefilled_with_the_transcript_so_far_while_the_user_speaks() -> None:
    script = [("silence", 200), ("tone", 1500), ("silence", 400)]
    live_llm, spec_llm = RecordingLlm(), PrefillingLlm()
    live, _ = asyncio.run(converse(engines(live_llm), speculate=False, script=script))
    spec, _ = asyncio.run(converse(engines(spec_llm), speculate=True, script=script, pace_s=0.005))
    assert normalized(spec) == normalized(live)  # prefilling is invisible to the client
    assert len(spec_llm.requests) == 1
    final = spec_llm.requests[0]
    assert final.messages[-1]["content"] == "FULL UTTERANCE"
    heard = [request.messages[-1]["content"] for request in spec_llm.prefilled]
    assert heard[0] == "SHORT PART"  # the first prefill is early in the utterance
    assert 2 <= len(heard) <= 1500 // 300 + 1  # then every 300 ms or so, not every chunk
    for request in spec_llm.prefilled:  # the same prompt but for the transcript so far
        assert list(request.messages[:-1]) == list(final.messages[:-1])
        assert request.tools == final.tools


def test_no_prefill_without_speculation() -> None:
    script = [("silence", 200), ("tone", 1500), ("silence", 400)]
    llm = PrefillingLlm()
    asyncio.run(converse(engines(llm), speculate=False, script=script, pace_s=0.005))
    assert llm.prefilled == []
