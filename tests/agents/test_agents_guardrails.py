"""Output guardrails: debounced checks on streamed text; a trip interrupts and recovers."""

from __future__ import annotations

from typing import Any

from agent_test_helpers import EventRecorder

from realtime_agents import (
    RealtimeModelAudioEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendUserInput,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnStartedEvent,
)
from realtime_agents.agents import (
    GuardrailFunctionOutput,
    RealtimeAgent,
    RealtimeRunner,
    output_guardrail,
)
from realtime_agents.agents.guardrails import GuardrailDebouncer
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


def delta(text: str, response_id: str = "r1", item_id: str = "a1") -> Any:
    return RealtimeModelTranscriptDeltaEvent(item_id=item_id, delta=text, response_id=response_id)


def test_debouncer_checks_each_n_characters_and_at_the_end() -> None:
    debouncer = GuardrailDebouncer(debounce=10)
    checks = [debouncer.add_delta("i", "r", "x" * 4) for _ in range(6)]  # 4, 8, ..., 24 chars
    assert [c is not None for c in checks] == [False, False, True, False, True, False]
    assert debouncer.finish("i", "r", "x" * 24) == "x" * 24  # not checked at 24 yet
    debouncer.add_delta("j", "r", "y" * 10)
    assert debouncer.finish("j", "r", None) is None  # already checked in full
    assert debouncer.mark_tripped("r", "i") is True
    assert debouncer.mark_tripped("r", "i") is False
    assert debouncer.add_delta("k", "r", "z" * 50) is None  # tripped responses are not rechecked


async def test_guardrail_trip_interrupts_the_response_and_recovers() -> None:
    seen_texts: list[str] = []

    @output_guardrail
    def no_secrets(context: Any, agent: RealtimeAgent, text: str) -> GuardrailFunctionOutput:
        seen_texts.append(text)
        return GuardrailFunctionOutput(tripwire_triggered="password" in text, output_info="pw")

    model = ScriptedRealtimeModel(
        [
            RealtimeStep(expect=RealtimeModelSendInterrupt(cancel_response=True, response_id="r1")),
            RealtimeStep(
                expect=lambda e: (
                    isinstance(e, RealtimeModelSendUserInput) and "no_secrets" in str(e.user_input)
                )
            ),
        ]
    )
    agent = RealtimeAgent(name="a", output_guardrails=[no_secrets])
    runner = RealtimeRunner(agent, model=model, config={"guardrail_debounce_text_length": 20})
    async with await runner.run() as session:
        events = EventRecorder(session)
        await model.emit(
            RealtimeModelTurnStartedEvent(response_id="r1"),
            delta("The weather is fine "),  # 20 chars: first check, passes
            delta("and the password is hunter2"),  # 47 chars: second check trips
        )
        tripped = await events.until("guardrail_tripped")
        assert tripped.type == "guardrail_tripped"
        assert tripped.response_id == "r1" and tripped.item_id == "a1"
        assert [r.guardrail.name for r in tripped.results] == ["no_secrets"]
        assert tripped.results[0].output.output_info == "pw"
        # Output of the tripped response is dropped from now on.
        await model.emit(
            RealtimeModelAudioEvent(data=b"\x00\x00", response_id="r1", item_id="a1"),
            delta(" more secret words"),
            RealtimeModelAudioEvent(data=b"\x01\x00", response_id="r2", item_id="a2"),
        )
        audio = await events.until("audio")
        assert audio.type == "audio" and audio.response_id == "r2"
    assert seen_texts == ["The weather is fine ", "The weather is fine and the password is hunter2"]
    assert model.sent_events[0] == RealtimeModelSendInterrupt(
        cancel_response=True, response_id="r1"
    )
    deltas = [e.delta for e in events.of_type("transcript_delta")]
    assert " more secret words" not in deltas
    model.assert_complete()


async def test_short_reply_is_checked_at_the_end_and_a_raising_guardrail_is_reported() -> None:
    checked: list[str] = []

    @output_guardrail(name="length")
    async def short_ok(context: Any, agent: RealtimeAgent, text: str) -> bool:
        checked.append(text)
        return False

    @output_guardrail
    def broken(context: Any, agent: RealtimeAgent, text: str) -> bool:
        raise ValueError("classifier offline")

    model = ScriptedRealtimeModel()
    runner = RealtimeRunner(
        RealtimeAgent(name="a", output_guardrails=[short_ok]),
        model=model,
        config={"output_guardrails": [broken, short_ok]},
    )
    async with await runner.run() as session:
        events = EventRecorder(session)
        await model.emit(
            delta("Hi!"),
            RealtimeModelTranscriptDoneEvent(item_id="a1", transcript="Hi!", response_id="r1"),
        )
        error = await events.until("error")
        assert error.type == "error" and "classifier offline" in error.message
    assert checked == ["Hi!"]  # once (deduplicated), on the final text
    assert "guardrail_tripped" not in events.types()
    model.assert_complete()
