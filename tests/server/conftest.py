"""Shared fixtures: a scripted server on 127.0.0.1 whose every sent event is schema-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from server_helpers import LONG_REPLY, SERVER_EVENT

from realtime_agents.server.app import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.base import EngineSet
from realtime_agents.server.engines.scripted import (
    ScriptedLlm,
    ScriptedStt,
    ToneTts,
    ToolRule,
    scripted_engine_set,
)


class EventRecorder:
    """Validates every event the server sends against the openai GA server event union."""

    def __init__(self) -> None:
        self.count = 0
        self.invalid: list[tuple[dict[str, Any], str]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.count += 1
        try:
            SERVER_EVENT.validate_python(event)
        except ValidationError as error:
            self.invalid.append((event, str(error)))


@pytest.fixture(scope="session")
def recorder() -> EventRecorder:
    """One recorder for the whole suite."""
    return EventRecorder()


@pytest.fixture(autouse=True)
def _no_invalid_server_events(recorder: EventRecorder) -> Iterator[None]:
    """Fail the test during which the server sent an event the openai types reject."""
    before = len(recorder.invalid)
    yield
    new = recorder.invalid[before:]
    assert not new, f"server sent {len(new)} invalid event(s), first: {new[0]}"


def make_engines() -> EngineSet:
    """Scripted engines: a long reply, a weather tool trigger, a slowish TTS (barge-in window)."""
    return scripted_engine_set(
        stt=ScriptedStt(default="Hello there."),
        llm=ScriptedLlm(
            reply=LONG_REPLY,
            tool_rules=[ToolRule("weather", "get_weather", {"city": "Paris"})],
        ),
        tts=ToneTts(chunk_delay_s=0.01),
    )


@pytest.fixture
async def server(recorder: EventRecorder) -> AsyncIterator[RealtimeServer]:
    """A scripted server on a free loopback port with the test API key."""
    options = ServerOptions(api_key="test-key", event_hook=recorder)
    running = await serve("127.0.0.1", 0, make_engines(), options)
    try:
        yield running
    finally:
        await running.close()
