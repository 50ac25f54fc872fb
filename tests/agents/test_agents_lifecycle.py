"""Session lifecycle: start, settings, clean shutdown with tools in flight, idempotent close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agent_test_helpers import EventRecorder, tool_call

from realtime_agents import (
    RealtimeModelAudioInterruptedEvent,
    RealtimeModelInputSpeechStartedEvent,
    RealtimeModelInputSpeechStoppedEvent,
    RealtimeModelSendAudio,
    RealtimeModelSendInterrupt,
    RealtimeModelSendUserInput,
)
from realtime_agents.agents import RealtimeAgent, RealtimeRunner, function_tool
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


async def test_clean_shutdown_cancels_and_awaits_tools_in_flight() -> None:
    entered = asyncio.Event()
    finished: list[str] = []

    @function_tool
    async def forever(tag: str) -> str:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # cleanup that itself awaits
            finished.append(f"cancelled {tag}")
            raise
        return "unreachable"

    model = ScriptedRealtimeModel()  # any tool output would be an unexpected send
    session = await RealtimeRunner(RealtimeAgent(name="a", tools=[forever]), model=model).run()
    events = EventRecorder(session)
    async with session:
        await model.emit(
            tool_call("forever", '{"tag": "one"}', call_id="c1"),
            tool_call("forever", '{"tag": "two"}', call_id="c2"),
        )
        await events.until("tool_start", count=2)
        await entered.wait()
        closers = [asyncio.create_task(session.close()) for _ in range(3)]
        await asyncio.gather(*closers)
        assert sorted(finished) == ["cancelled one", "cancelled two"]  # awaited, not abandoned
        assert session.closed and model.closed
    await session.close()  # idempotent, also after the context exit
    rest = await events.rest()
    assert "tool_end" not in [e.type for e in rest]
    assert model.sent_events == ()
    with pytest.raises(RuntimeError, match="closed"):
        await session.send_message("hello?")
    model.assert_complete()


async def test_failed_connect_raises_and_leaves_nothing_behind() -> None:
    model = ScriptedRealtimeModel(connect_error=ConnectionRefusedError("no server"))
    session = await RealtimeRunner(RealtimeAgent(name="a"), model=model).run()
    with pytest.raises(ConnectionRefusedError):
        async with session:
            pytest.fail("the body must not run")
    assert session.closed
    assert model.closed  # the model was closed too
    with pytest.raises(RuntimeError, match="already started"):
        await session.start()


async def test_connect_settings_merge_config_agent_and_instructions_function() -> None:
    async def instructions(context: Any, agent: RealtimeAgent) -> str:
        await asyncio.sleep(0)
        return f"Help {context['user']} as {agent.name}."

    @function_tool
    def ping() -> str:
        return "pong"

    agent = RealtimeAgent(
        name="Helper",
        instructions=instructions,
        tools=[ping],
        settings={"voice": "verse", "turn_detection": {"type": "semantic_vad"}},
    )
    model = ScriptedRealtimeModel([RealtimeStep(expect=RealtimeModelSendUserInput("hi"))])
    runner = RealtimeRunner(
        agent,
        model=lambda: model,
        config={"model_settings": {"voice": "alloy", "output_modalities": ["audio"]}},
    )
    session = await runner.run(
        context={"user": "ann"},
        model_config={
            "url": "ws://127.0.0.1:1/v1/realtime",
            "initial_model_settings": {"speed": 1.1},
        },
    )
    async with session:
        await session.send_message("hi")
    (connect,) = model.connect_calls
    settings = connect.initial_model_settings
    assert settings is not None
    assert connect.url == "ws://127.0.0.1:1/v1/realtime"
    assert settings["instructions"] == "Help ann as Helper."
    assert settings["tools"] == [ping.definition()]
    assert settings["output_modalities"] == ["audio"]
    assert settings["audio"]["output"] == {"voice": "verse", "speed": 1.1}
    assert settings["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}
    model.assert_complete()


def test_agent_validation_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="name"):
        RealtimeAgent(name="")
    with pytest.raises(TypeError, match="FunctionTool"):
        RealtimeAgent(name="a", tools=[print])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="handoffs"):
        RealtimeAgent(name="a", handoffs=["billing"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="RealtimeAgent"):
        RealtimeRunner("agent")  # type: ignore[arg-type]


async def test_audio_interrupt_and_speech_events_pass_through() -> None:
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(expect=RealtimeModelSendAudio(audio=b"\x01\x02", commit=False)),
            RealtimeStep(
                expect=RealtimeModelSendAudio(audio=b"\x03\x04", commit=True),
                emit=[
                    RealtimeModelInputSpeechStartedEvent(item_id="u1", audio_start_ms=0),
                    RealtimeModelInputSpeechStoppedEvent(item_id="u1", audio_end_ms=40),
                ],
            ),
            RealtimeStep(
                expect=RealtimeModelSendInterrupt(cancel_response=True),
                emit=[RealtimeModelAudioInterruptedEvent(item_id="a1")],
            ),
        ]
    )
    runner = RealtimeRunner(RealtimeAgent(name="a"), model=model, config={"raw_model_events": True})
    async with await runner.run() as session:
        events = EventRecorder(session)
        await session.send_audio(b"\x01\x02")
        await session.send_audio(b"\x03\x04", commit=True)
        await session.interrupt()
        await events.until("audio_interrupted")
    assert [t for t in events.types() if t != "raw_model_event"] == [
        "input_speech_started",
        "input_speech_stopped",
        "audio_interrupted",
    ]
    raw = [e.data.type for e in events.of_type("raw_model_event")]
    assert raw == ["input_speech_started", "input_speech_stopped", "audio_interrupted"]
    model.assert_complete()


async def test_the_default_model_is_the_openai_provider_imported_lazily() -> None:
    from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel

    runner = RealtimeRunner(RealtimeAgent(name="a"))
    first, second = await runner.run(), await runner.run()
    assert isinstance(first.model, OpenAIRealtimeWebSocketModel)
    assert first.model is not second.model  # one model per session
