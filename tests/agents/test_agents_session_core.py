"""The session's helpers, each built on a `SessionCore` and a scripted model, without a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agent_test_helpers import GUARD_S, tool_call

from realtime_agents import (
    FunctionCallItem,
    InputAudio,
    RealtimeModelItemUpdatedEvent,
    RealtimeModelSendEvent,
    RealtimeModelSendInterrupt,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
    UserMessageItem,
)
from realtime_agents.agents import (
    AgentHooks,
    GuardrailFunctionOutput,
    RealtimeAgent,
    RealtimeRunConfig,
    RealtimeSessionEvent,
    function_tool,
    input_guardrail,
    output_guardrail,
)
from realtime_agents.agents.agent_switch import AgentSwitcher
from realtime_agents.agents.core import SessionCore
from realtime_agents.agents.guardrails import GuardrailDebouncer
from realtime_agents.agents.guardrails_runner import GuardrailRunner
from realtime_agents.agents.input_guardrails_runner import InputGuardrailRunner
from realtime_agents.agents.model_events import ModelEventHandler
from realtime_agents.agents.tool_calls import ToolCallRunner
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


@output_guardrail
def no_secrets(context: Any, agent: RealtimeAgent, text: str) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(tripwire_triggered="secret" in text)


@input_guardrail
def no_passwords(context: Any, agent: RealtimeAgent, text: str) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(tripwire_triggered="password" in text)


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Reader:
    """One consumer of the core's events."""

    def __init__(self, core: SessionCore) -> None:
        self._events: AsyncIterator[RealtimeSessionEvent] = aiter(core.broadcaster.subscribe())
        self.seen: list[RealtimeSessionEvent] = []

    async def until(self, kind: str) -> Any:
        async with asyncio.timeout(GUARD_S):
            async for event in self._events:
                self.seen.append(event)
                if event.type == kind:
                    return event
        raise AssertionError(f"no {kind} event (seen: {[e.type for e in self.seen]})")

    def types(self) -> list[str]:
        return [event.type for event in self.seen]


async def open_core(
    agent: RealtimeAgent,
    steps: list[RealtimeStep] | None = None,
    config: RealtimeRunConfig | None = None,
    *,
    strict: bool = True,
) -> tuple[SessionCore, ScriptedRealtimeModel]:
    model = ScriptedRealtimeModel(steps or [], strict=strict)
    await model.connect({})
    core = SessionCore(model, agent, context={"user": "ada"}, config=config)
    core.state = "open"
    return core, model


def helpers(
    core: SessionCore,
) -> tuple[GuardrailRunner, InputGuardrailRunner, AgentSwitcher, ToolCallRunner]:
    output = GuardrailRunner(core, GuardrailDebouncer(10))
    inputs = InputGuardrailRunner(core, output)
    switcher = AgentSwitcher(core, {})
    return output, inputs, switcher, ToolCallRunner(core, inputs, switcher)


async def test_the_core_sends_spawns_and_calls_hooks_and_reports_failures_as_events() -> None:
    calls: list[tuple[str, Any]] = []

    class Hooks(AgentHooks):
        async def on_start(self, context: Any, agent: RealtimeAgent) -> None:
            calls.append((agent.name, context))
            raise ValueError("hook broke")

    hooks = Hooks()
    agent = RealtimeAgent(name="ada", hooks=hooks)
    core, model = await open_core(agent, config={"hooks": hooks})
    reader = Reader(core)

    await core.call_hooks((agent,), "on_start", agent)  # the same hooks object is called once
    assert calls == [("ada", {"user": "ada"})]
    error = await reader.until("error")
    assert "Hooks.on_start raised: hook broke" in error.message

    assert not await core.send(RealtimeModelSendUserInput(user_input="hi"))  # unscripted: fails
    error = await reader.until("error")
    assert error.message.startswith("sending user_input to the model failed")

    async def broken() -> None:
        raise RuntimeError("task broke")

    core.spawn(broken(), "the background job")
    error = await reader.until("error")
    assert error.message == "the background job failed: task broke"

    core.state = "closing"
    sent = len(model.sent_events)
    assert not await core.send(RealtimeModelSendUserInput(user_input="late"))
    assert len(model.sent_events) == sent  # nothing is sent once the session is not open


async def test_tool_call_runner_runs_a_tool_answers_the_call_and_records_the_output() -> None:
    agent = RealtimeAgent(name="calc", tools=[add])
    output_sent = RealtimeStep(
        expect=lambda e: isinstance(e, RealtimeModelSendToolOutput) and e.output == "5"
    )
    core, model = await open_core(agent, [output_sent])
    _, _, _, tools = helpers(core)
    reader = Reader(core)
    core.history.apply(FunctionCallItem(item_id="i1", call_id="c1", name="add", arguments="{}"))

    tools.on_tool_call(tool_call("add", '{"a": 2, "b": 3}', call_id="c1", item_id="i1"))
    tools.on_tool_call(tool_call("add", '{"a": 2, "b": 3}', call_id="c1", item_id="i1"))
    end = await reader.until("tool_end")

    assert end.output == "5" and end.status == "completed"
    assert reader.types().count("tool_start") == 1  # a call id seen twice runs once
    recorded = core.history.get("i1")
    assert isinstance(recorded, FunctionCallItem) and recorded.output == "5"
    model.assert_complete()


async def test_a_handoff_switches_the_core_agent_through_the_switcher() -> None:
    billing = RealtimeAgent(name="billing", instructions="Bill.", settings={"voice": "sage"})
    triage = RealtimeAgent(name="triage", handoffs=[billing])
    (name,) = [d["name"] for d in triage.tool_definitions()]
    steps = [
        RealtimeStep(expect=RealtimeModelSendSessionUpdate),
        RealtimeStep(expect=RealtimeModelSendToolOutput),
    ]
    core, model = await open_core(triage, steps)
    _, _, _, tools = helpers(core)
    reader = Reader(core)
    core.audio_produced = True  # the voice may no longer change

    tools.on_tool_call(tool_call(name))
    event = await reader.until("handoff")

    assert event.from_agent is triage and event.to_agent is billing
    assert core.agent is billing
    update = model.sent_events[0]
    assert isinstance(update, RealtimeModelSendSessionUpdate)
    assert update.session_settings["instructions"] == "Bill."
    assert "voice" not in update.session_settings.get("audio", {}).get("output", {})
    model.assert_complete()


async def test_output_guardrail_runner_stops_a_response_that_trips() -> None:
    agent = RealtimeAgent(name="ada", output_guardrails=[no_secrets])
    recovered = asyncio.Event()

    def is_recovery(event: RealtimeModelSendEvent) -> bool:
        recovered.set()
        return isinstance(event, RealtimeModelSendUserInput)

    steps = [
        RealtimeStep(expect=RealtimeModelSendInterrupt(cancel_response=True, response_id="r1")),
        RealtimeStep(expect=is_recovery),
    ]
    core, model = await open_core(agent, steps)
    output, _, _, _ = helpers(core)
    reader = Reader(core)

    output.on_delta("a1", "r1", "the ")  # under the debounce length: not checked yet
    assert not output.is_tripped("r1")
    output.on_done("a1", "r1", "the secret is 42")
    tripped = await reader.until("guardrail_tripped")

    assert tripped.text == "the secret is 42" and tripped.response_id == "r1"
    assert output.is_tripped("r1")
    await asyncio.wait_for(recovered.wait(), GUARD_S)  # the recovery message follows
    model.assert_complete()


async def test_input_guardrail_runner_checks_text_and_gates_tool_calls_of_spoken_turns() -> None:
    agent = RealtimeAgent(name="ada", input_guardrails=[no_passwords])
    core, _ = await open_core(agent)
    _, inputs, _, _ = helpers(core)
    reader = Reader(core)

    assert await inputs.check_text("what is the weather")
    assert not await inputs.check_text("what is the admin password")
    tripped = await reader.until("input_guardrail_tripped")
    assert tripped.source == "text"

    inputs.on_user_item("u1", spoken=True)
    inputs.on_turn_started("r1")
    check = inputs.pending_check("r1")
    assert check is not None and check.item_id == "u1" and check.verdict is None
    inputs.on_transcription_failed("u1")
    assert check.verdict is not None and check.verdict.reason == "transcription_failed"

    plain, _ = await open_core(RealtimeAgent(name="plain"))
    _, no_guardrails, _, _ = helpers(plain)
    no_guardrails.on_user_item("u1", spoken=True)
    assert no_guardrails.pending_check(None) is None  # nothing to wait for


async def test_model_event_handler_folds_events_into_the_core_and_its_helpers() -> None:
    agent = RealtimeAgent(name="calc", tools=[add])
    core, model = await open_core(agent, [RealtimeStep(expect=RealtimeModelSendToolOutput)])
    output, inputs, _, tools = helpers(core)
    handler = ModelEventHandler(core, tools, output, inputs)
    reader = Reader(core)

    user = UserMessageItem(item_id="u1", content=(InputAudio(transcript="add two and three"),))
    await handler.handle(RealtimeModelItemUpdatedEvent(item=user))
    await handler.handle(RealtimeModelTurnStartedEvent(response_id="r1"))
    await handler.handle(
        RealtimeModelTranscriptDeltaEvent(item_id="a1", delta="On it.", response_id="r1")
    )
    await handler.handle(tool_call("add", '{"a": 2, "b": 3}', call_id="c1", item_id="i1"))
    await reader.until("tool_end")
    await handler.handle(RealtimeModelTurnEndedEvent(response_id="r1", status="completed"))
    await reader.until("agent_end")

    assert [item.item_id for item in core.history.items] == ["u1", "a1", "i1"]
    call = core.history.get("i1")
    assert isinstance(call, FunctionCallItem) and call.output == "5"
    assert [t.response_id for t in core.metrics.turns] == ["r1"]
    assert reader.types()[:3] == ["history_added", "agent_start", "transcript_delta"]
    model.assert_complete()


async def test_agent_switcher_reports_settings_that_cannot_be_built() -> None:
    def broken(context: Any, agent: RealtimeAgent) -> str:
        raise RuntimeError("no instructions today")

    core, model = await open_core(RealtimeAgent(name="ada"), strict=False)
    switcher = AgentSwitcher(core, {"initial_model_settings": {"instructions": "base"}})
    reader = Reader(core)
    other = RealtimeAgent(name="other", instructions=broken)

    assert not await switcher.switch(other)
    error = await reader.until("error")
    assert "building the settings of agent 'other' failed" in error.message
    assert core.agent.name == "ada"  # unchanged
    sends: tuple[RealtimeModelSendEvent, ...] = model.sent_events
    assert sends == ()
