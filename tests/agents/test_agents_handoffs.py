"""Handoffs: switch agent, update settings, emit events, and the new agent answers."""

from __future__ import annotations

from typing import Any

import pydantic
from agent_test_helpers import EventRecorder, assistant_turn, tool_call

from realtime_agents import (
    RealtimeModelAudioEvent,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
)
from realtime_agents.agents import (
    AgentHooks,
    RealtimeAgent,
    RealtimeRunner,
    function_tool,
    handoff,
)
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


@function_tool
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


class RecordingHooks(AgentHooks):
    def __init__(self, calls: list[str], tag: str) -> None:
        self.calls, self.tag = calls, tag

    async def on_handoff(
        self, context: Any, from_agent: RealtimeAgent, to_agent: RealtimeAgent
    ) -> None:
        self.calls.append(f"{self.tag}:{from_agent.name}->{to_agent.name}")

    async def on_start(self, context: Any, agent: RealtimeAgent) -> None:
        self.calls.append(f"{self.tag}:start:{agent.name}")


def voice_of(settings: Any) -> Any:
    return settings.get("audio", {}).get("output", {}).get("voice")


async def test_handoff_switches_agent_and_the_new_agent_answers() -> None:
    calls: list[str] = []
    billing = RealtimeAgent(
        name="Billing",
        instructions="You handle refunds.",
        tools=[refund],
        settings={"voice": "verse"},
        hooks=RecordingHooks(calls, "billing"),
    )
    triage = RealtimeAgent(
        name="Triage",
        instructions="Route the user.",
        handoffs=[billing],
        settings={"voice": "alloy"},
        hooks=RecordingHooks(calls, "triage"),
    )
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(expect=RealtimeModelSendSessionUpdate),
            RealtimeStep(
                expect=RealtimeModelSendToolOutput,
                emit=assistant_turn("r2", "a2", "I can refund that order for you."),
            ),
        ]
    )
    runner = RealtimeRunner(triage, model=model, config={"hooks": RecordingHooks(calls, "run")})
    async with await runner.run() as session:
        events = EventRecorder(session)
        # Audio was produced before the handoff, so the voice must not be resent.
        await model.emit(
            RealtimeModelAudioEvent(data=b"\x01\x00", response_id="r1", item_id="a1"),
            tool_call("transfer_to_billing", call_id="h1"),
        )
        event = await events.until("handoff")
        assert event.type == "handoff"
        assert event.from_agent is triage and event.to_agent is billing
        start = await events.until("agent_start")
        assert start.type == "agent_start" and start.agent is billing
        await events.until("agent_end")
        assert session.current_agent is billing

    connect_settings = model.connect_calls[0].initial_model_settings
    assert connect_settings is not None
    assert connect_settings["instructions"] == "Route the user."
    assert [t["name"] for t in connect_settings["tools"]] == ["transfer_to_billing"]
    assert voice_of(connect_settings) == "alloy"

    update, output = model.sent_events
    assert isinstance(update, RealtimeModelSendSessionUpdate)
    assert update.session_settings["instructions"] == "You handle refunds."
    assert [t["name"] for t in update.session_settings["tools"]] == ["refund"]
    assert voice_of(update.session_settings) is None  # cannot_update_voice avoided
    assert isinstance(output, RealtimeModelSendToolOutput)
    assert output.start_response is True
    assert output.tool_call.call_id == "h1"
    assert "Continue helping the user with their request" in output.output
    assert "Billing" in output.output
    assert calls == [
        "billing:Triage->Billing",
        "triage:Triage->Billing",
        "run:Triage->Billing",
        "billing:start:Billing",
        "run:start:Billing",
    ]
    model.assert_complete()


class Escalation(pydantic.BaseModel):
    reason: str


async def test_custom_handoff_with_input_and_callback_sends_voice_before_audio() -> None:
    received: list[Any] = []
    specialist = RealtimeAgent(name="Specialist", settings={"voice": "sage"})

    async def on_escalate(context: Any, value: Escalation) -> None:
        received.append((context, value))

    front = RealtimeAgent(
        name="Front",
        handoffs=[
            handoff(
                specialist,
                tool_name="escalate",
                description="Escalate hard cases.",
                input_type=Escalation,
                on_handoff=on_escalate,
            )
        ],
    )
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(expect=RealtimeModelSendToolOutput),  # bad input: error, no switch
            RealtimeStep(expect=RealtimeModelSendSessionUpdate),
            RealtimeStep(expect=RealtimeModelSendToolOutput),
        ]
    )
    async with await RealtimeRunner(front, model=model).run(context="ctx") as session:
        events = EventRecorder(session)
        await model.emit(tool_call("escalate", "{}", call_id="bad"))
        await events.until(lambda e: e.type == "history_updated" and e.item.item_id == "item_bad")
        assert session.current_agent is front
        await model.emit(tool_call("escalate", '{"reason": "angry"}', call_id="good"))
        await events.until("handoff")
    definition = model.connect_calls[0].initial_model_settings["tools"][0]  # type: ignore[index]
    assert definition["name"] == "escalate"
    assert definition["description"] == "Escalate hard cases."
    assert definition["parameters"]["required"] == ["reason"]
    bad_output, update, good_output = model.sent_events
    assert isinstance(good_output, RealtimeModelSendToolOutput)
    assert good_output.tool_call.call_id == "good" and "Specialist" in good_output.output
    assert isinstance(bad_output, RealtimeModelSendToolOutput)
    assert "invalid input for handoff 'escalate'" in bad_output.output
    assert isinstance(update, RealtimeModelSendSessionUpdate)
    assert voice_of(update.session_settings) == "sage"  # no audio yet: voice may change
    assert received == [("ctx", Escalation(reason="angry"))]
    model.assert_complete()


async def test_update_agent_sends_the_new_settings_without_a_handoff_event() -> None:
    first = RealtimeAgent(name="First", instructions="one")
    second = RealtimeAgent(name="Second", instructions=lambda ctx, agent: f"two for {ctx}")
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(
                expect=lambda e: (
                    isinstance(e, RealtimeModelSendSessionUpdate)
                    and e.session_settings["instructions"] == "two for bob"
                )
            )
        ]
    )
    async with await RealtimeRunner(first, model=model).run(context="bob") as session:
        events = EventRecorder(session)
        await session.update_agent(second)
        assert session.current_agent is second
    await events.rest()
    assert "handoff" not in events.types()
    model.assert_complete()
