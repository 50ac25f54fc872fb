"""`session.update` with new tools or instructions prefills the LLM in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any

from server_helpers import WEATHER_TOOL, Harness

from realtime_agents.server.effects import PrepareLlm
from realtime_agents.server.engines.scripted import ScriptedLlm, scripted_engine_set
from realtime_agents.server.pipeline import SessionPipeline
from realtime_agents.server.protocol import SessionProtocol


class PreparingLlm(ScriptedLlm):
    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[tuple[Any, Any, Any]] = []

    def prepare(self, tools: Any, tool_choice: Any, instructions: Any) -> None:
        self.prepared.append((list(tools), tool_choice, instructions))


def update(**session: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **session}}


async def settle(pipeline: SessionPipeline) -> None:
    while pipeline._tasks:
        await asyncio.gather(*pipeline._tasks)


def test_prepare_runs_when_tools_or_instructions_change() -> None:
    llm = PreparingLlm()

    async def scenario() -> list[dict[str, Any]]:
        core = SessionProtocol(model="test-model", now=0.0)
        pipeline = SessionPipeline(core, scripted_engine_set(llm=llm))
        await pipeline.start()
        await pipeline.receive(update(tools=[WEATHER_TOOL], instructions="Be brief."))
        await settle(pipeline)
        await pipeline.receive(update(tools=[WEATHER_TOOL], instructions="Be brief."))  # same
        await pipeline.receive(update(output_modalities=["audio"]))  # unrelated
        await settle(pipeline)
        await pipeline.receive(update(instructions="Be friendly."))
        await settle(pipeline)
        await pipeline.receive(update(tools="not a list"))  # invalid: an error, no prepare
        await settle(pipeline)
        events = pipeline.pending_events()
        await pipeline.aclose()
        return events

    events = asyncio.run(scenario())
    assert llm.prepared == [
        ([WEATHER_TOOL], "auto", "Be brief."),
        ([], "auto", "Be friendly."),  # the router's tools did not change
    ]
    assert [e["type"] for e in events] == [
        "session.created",
        "session.updated",
        "session.updated",
        "session.updated",
        "session.updated",
        "error",
    ]


def test_engines_without_prepare_are_left_alone() -> None:
    async def scenario() -> None:
        core = SessionProtocol(model="test-model", now=0.0)
        pipeline = SessionPipeline(core, scripted_engine_set())
        await pipeline.receive(update(tools=[WEATHER_TOOL]))
        assert not pipeline._tasks
        await pipeline.aclose()

    asyncio.run(scenario())


def test_the_core_asks_for_preparation_only_when_the_llm_setup_changes() -> None:
    harness = Harness()
    instructions = harness.core.session["instructions"]
    first = harness.send(update(tools=[WEATHER_TOOL], tool_choice="required"))
    assert first[1:] == [PrepareLlm([WEATHER_TOOL], "required", instructions)]
    assert harness.send(update(tools=[WEATHER_TOOL], tool_choice="required"))[1:] == []
    assert harness.send(update(output_modalities=["text"]))[1:] == []
    assert harness.send(update(instructions="Be brief."))[1:] == [
        PrepareLlm([], "required", "Be brief.")  # the tools did not change: none to prefill
    ]


def test_a_transcription_session_never_asks_for_preparation() -> None:
    core = SessionProtocol(model="unused", now=0.0, intent="transcription")
    outputs = core.receive({"type": "session.update", "session": {"type": "transcription"}}, 0.0)
    assert [type(output) for output in outputs] == [dict]
