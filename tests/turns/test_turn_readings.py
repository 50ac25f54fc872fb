"""The recogniser's other readings of a pause: a finished-looking head that could also be read
unfinished ("going to begin?" / "going to be in") waits the unsure silence, not the short one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from test_turns_server import of_type, send_audio, session, silence, tone, until

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.base import HypothesesSpeechToText, Hypothesis
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    scripted_engine_set,
)
from realtime_agents.server.turns.completion import (
    AMBIGUOUS,
    COMPLETE,
    LIKELY_COMPLETE,
    UNFINISHED,
    turn_completion,
)
from realtime_agents.server.turns.semantic import (
    EAGERNESS,
    SemanticTurnDetector,
    SpeechStopped,
    TranscriptWanted,
)

MISHEARD = "What's the weather going to begin?"
HEARD_RIGHT = "What's the weather going to be in"
SENTENCE = "What's the weather going to be in London tomorrow?"


def test_an_unfinished_likely_reading_makes_a_finished_one_ambiguous() -> None:
    readings = [Hypothesis(MISHEARD, -0.30), Hypothesis(HEARD_RIGHT, -0.48)]
    assert turn_completion(MISHEARD, readings) == AMBIGUOUS
    assert turn_completion(MISHEARD) == COMPLETE  # the best reading alone reads finished


def test_unlikely_or_finished_readings_change_nothing() -> None:
    far = [Hypothesis(MISHEARD, -0.3), Hypothesis(HEARD_RIGHT, -1.2)]  # beyond the score gap
    assert turn_completion(MISHEARD, far) == COMPLETE
    same = [Hypothesis("Stop the music.", -0.6), Hypothesis("Stop the music!", -0.8)]
    assert turn_completion("Stop the music.", same) == COMPLETE
    likely = [Hypothesis("Play some jazz music", -0.4), Hypothesis("Play some jazz music.", -0.5)]
    assert turn_completion("Play some jazz music", likely) == LIKELY_COMPLETE
    unfinished = [Hypothesis(HEARD_RIGHT, -0.3), Hypothesis(MISHEARD, -0.4)]
    assert turn_completion(HEARD_RIGHT, unfinished) == UNFINISHED  # never raised
    assert turn_completion("", [Hypothesis("", 0.0)]) is None


@pytest.mark.parametrize("eagerness", ["high", "auto", "low"])
def test_silences_grow_from_finished_to_likely_to_unsure(eagerness: str) -> None:
    detector = SemanticTurnDetector(eagerness)
    waits = [detector.silence_for(p) for p in (COMPLETE, LIKELY_COMPLETE, AMBIGUOUS, UNFINISHED)]
    assert waits == sorted(waits) and len(set(waits)) == 4
    assert waits[-1] == EAGERNESS[eagerness].max_wait_ms


def test_the_detector_waits_the_unsure_silence_for_an_ambiguous_pause() -> None:
    detector = SemanticTurnDetector("auto")
    frames = [(32.0 * i, 32.0 * (i + 1), 0.9) for i in range(20)]
    changes = [detector.frame(*frame) for frame in frames]
    wanted = detector.frame(640.0, 672.0, 0.0)
    assert isinstance(wanted, TranscriptWanted) and changes[0] is not None
    readings = [Hypothesis(MISHEARD, -0.3), Hypothesis(HEARD_RIGHT, -0.4)]
    assert detector.transcript(wanted.speech_end_ms, MISHEARD, readings) is None
    stop_at = 640 + EAGERNESS["auto"].unsure_ms
    stops = []
    for index in range(1, 40):
        change = detector.frame(640.0 + 32 * index, 672.0 + 32 * index, 0.0)
        if isinstance(change, SpeechStopped):
            stops.append(672.0 + 32 * index)
    assert len(stops) == 1 and stops[0] >= stop_at
    assert stops[0] - 32 < stop_at  # not the finished silence (250 ms), not the maximum wait


def test_the_scripted_recogniser_gives_its_readings() -> None:
    stt = ScriptedStt(default=MISHEARD, readings={MISHEARD: [HEARD_RIGHT]})
    assert isinstance(stt, HypothesesSpeechToText)
    found = stt.transcribe_hypotheses(np.zeros(2400, dtype=np.float32))
    assert [reading.text for reading in found] == [MISHEARD, HEARD_RIGHT]
    assert found[0].score > found[1].score


@pytest.fixture(params=[True, False], ids=["readings", "best-only"])
async def readings_server(request: pytest.FixtureRequest) -> AsyncIterator[RealtimeServer]:
    readings = {MISHEARD: [HEARD_RIGHT]} if request.param else {}
    stt = ScriptedStt(by_duration=((1.6, MISHEARD), (1000.0, SENTENCE)), readings=readings)
    engines = scripted_engine_set(stt=stt, llm=ScriptedLlm(), tts=ToneTts())
    running = await serve("127.0.0.1", 0, engines, ServerOptions(api_key=None))
    running.readings = request.param  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        await running.close()


async def test_a_misheard_paused_head_is_one_turn_when_another_reading_is_unfinished(
    readings_server: RealtimeServer,
) -> None:
    ws = await session(readings_server, {"type": "semantic_vad"})
    seen: list[dict[str, Any]] = []
    # the head (misheard as a finished question), a 700 ms pause, "London tomorrow?"
    await send_audio(ws, np.concatenate([silence(200), tone(900), silence(700)]))
    with contextlib.suppress(TimeoutError):  # time for the pause's transcript to be judged
        async with asyncio.timeout(1.5):
            await until(ws, "input_audio_buffer.speech_stopped", seen)
    await send_audio(ws, np.concatenate([tone(600), silence(1200)]))
    await until(ws, "response.done", seen)
    await send_audio(ws, silence(300))
    stopped = of_type(seen, "input_audio_buffer.speech_stopped")
    if readings_server.readings:  # type: ignore[attr-defined]
        assert len(stopped) == 1 and stopped[0]["audio_end_ms"] > 2300  # after "tomorrow"
        assert len(of_type(seen, "input_audio_buffer.committed")) == 1
    else:  # the best reading alone: the short silence ended the turn in the pause
        assert stopped[0]["audio_end_ms"] < 1700
    await ws.close()


@pytest.mark.parametrize("text", ["Wake me up at 6.", "Set a timer for 10 minutes.", "It's 2024"])
def test_a_number_is_a_word_that_can_end_a_sentence(text: str) -> None:
    assert turn_completion(text) in (COMPLETE, LIKELY_COMPLETE)
