"""Usage and latency per turn, with an injected clock."""

from __future__ import annotations

import pytest
from agent_test_helpers import EventRecorder

from realtime_agents import (
    RealtimeInputTokensDetails,
    RealtimeModelAudioEvent,
    RealtimeModelInputSpeechStoppedEvent,
    RealtimeModelSendUserInput,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
    RealtimeModelUsageEvent,
    RealtimeOutputTokensDetails,
    RealtimeUsage,
)
from realtime_agents.agents import RealtimeAgent, RealtimeRunner
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def usage(inp: int, out: int) -> RealtimeUsage:
    return RealtimeUsage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=inp + out,
        input_token_details=RealtimeInputTokensDetails(audio_tokens=inp, cached_tokens=1),
        output_token_details=RealtimeOutputTokensDetails(audio_tokens=out),
    )


async def test_turn_latency_and_usage_are_collected_and_emitted() -> None:
    clock = FakeClock()
    model = ScriptedRealtimeModel([RealtimeStep(expect=RealtimeModelSendUserInput("and now?"))])
    runner = RealtimeRunner(RealtimeAgent(name="a"), model=model, config={"clock": clock})
    async with await runner.run() as session:
        events = EventRecorder(session)
        await model.emit(RealtimeModelInputSpeechStoppedEvent(item_id="u1", audio_end_ms=900))
        clock.now = 100.2
        await model.emit(RealtimeModelTurnStartedEvent(response_id="r1"))
        clock.now = 100.5
        await model.emit(RealtimeModelAudioEvent(data=b"\0\0", response_id="r1", item_id="a1"))
        clock.now = 100.7
        await model.emit(
            RealtimeModelTranscriptDeltaEvent(item_id="a1", delta="Hi", response_id="r1"),
            RealtimeModelAudioEvent(data=b"\0\0", response_id="r1", item_id="a1"),
        )
        clock.now = 101.0
        await model.emit(
            RealtimeModelTurnEndedEvent(response_id="r1", status="completed"),
            RealtimeModelUsageEvent(usage=usage(10, 20), response_id="r1"),
        )
        metrics_event = await events.until("turn_metrics")
        usage_event = await events.until("usage")
        # A text turn: measured from the moment the message was sent.
        clock.now = 200.0
        await session.send_message("and now?")
        clock.now = 200.25
        await model.emit(RealtimeModelTurnStartedEvent(response_id="r2"))
        await model.emit(
            RealtimeModelTranscriptDeltaEvent(item_id="a2", delta="Ok", response_id="r2"),
            RealtimeModelUsageEvent(usage=usage(5, 5), response_id="r2"),
            RealtimeModelTurnEndedEvent(response_id="r2", status="completed"),
        )
        await events.until("turn_metrics")

    assert metrics_event.type == "turn_metrics"
    first = metrics_event.metrics
    assert first.input_kind == "speech"
    assert first.time_to_first_audio_s == pytest.approx(0.5)
    assert first.time_to_first_transcript_s == pytest.approx(0.7)
    assert first.duration_s == pytest.approx(0.8)
    assert usage_event.type == "usage" and usage_event.totals.total_tokens == 30

    turn1, turn2 = session.turn_metrics
    assert turn1.usage == usage(10, 20)  # usage arrived after the turn ended
    assert turn2.input_kind == "text"
    assert turn2.time_to_first_transcript_s == pytest.approx(0.25)
    assert turn2.time_to_first_audio_s is None
    assert turn2.usage == usage(5, 5)
    totals = session.usage
    assert (totals.responses, totals.input_tokens, totals.output_tokens) == (2, 15, 25)
    assert (totals.input_audio_tokens, totals.cached_input_tokens) == (15, 2)
    assert totals.output_audio_tokens == 25
    model.assert_complete()
