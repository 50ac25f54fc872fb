"""The Agents SDK's and this project's `OpenAIRealtimeWebSocketModel` against the local server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from model_clients import Collector, Kit, agents_sdk_kit, make_listener, project_kit
from server_helpers import utterance_chunks

from realtime_agents.server import RealtimeServer

KITS = {"agents-sdk": agents_sdk_kit, "realtime-agents": project_kit}


@pytest.fixture(params=sorted(KITS))
def kit(request: pytest.FixtureRequest) -> Kit:
    return KITS[request.param]()


async def connected(
    server: RealtimeServer, kit: Kit, settings: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Any, Collector]]:
    model = kit.make_model()
    collector = Collector()
    model.add_listener(make_listener(kit, collector))
    config: dict[str, Any] = {"url": server.url + "?model=local", "api_key": "test-key"}
    if settings is not None:
        config["initial_model_settings"] = settings
    await model.connect(config)
    try:
        yield model, collector
    finally:
        await model.close()


def audio_bytes(collector: Collector, start: int = 0) -> int:
    return sum(len(e.data) for e in collector.events[start:] if e.type == "audio")


def is_turn_end(event: Any) -> bool:
    return bool(event.type == "turn_ended")


async def test_text_turn(server: RealtimeServer, kit: Kit) -> None:
    async for model, collector in connected(server, kit):
        await model.send_event(kit.send_user_input("Hi"))
        await collector.wait_for(is_turn_end)
        done = collector.raw_done()
        assert done and done[-1]["response"]["status"] == "completed"
        transcript = done[-1]["response"]["output"][0]["content"][0]["transcript"]
        assert transcript.startswith("Sure, here is a longer answer.")
        assert audio_bytes(collector) > 48 * 1000


async def test_audio_turn_with_server_vad(server: RealtimeServer, kit: Kit) -> None:
    async for model, collector in connected(server, kit):
        for chunk in utterance_chunks():
            await model.send_event(kit.send_audio(base64.b64decode(chunk)))
        await collector.wait_for(is_turn_end)
        raw = collector.raw_types()
        assert raw.index("input_audio_buffer.speech_started") < raw.index(
            "input_audio_buffer.committed"
        )
        assert raw.index("input_audio_buffer.committed") < raw.index("response.created")
        assert audio_bytes(collector) > 48 * 1000


async def test_function_call_round_trip(server: RealtimeServer, kit: Kit) -> None:
    async for model, collector in connected(server, kit, {"tools": [kit.weather_tool]}):
        await model.send_event(kit.send_user_input("How is the weather today?"))
        call = await collector.wait_for(lambda e: e.type == "function_call")
        assert call.name == "get_weather" and '"Paris"' in call.arguments
        start = len(collector.events)
        await model.send_event(kit.send_tool_output(call, "sunny"))
        await collector.wait_for(
            lambda e: (
                e.type == "raw_server_event"
                and isinstance(e.data, dict)
                and e.data.get("type") == "response.done"
            ),
            start,
        )
        done = collector.raw_done(start)[-1]["response"]
        assert done["output"][0]["content"][0]["transcript"] == "The tool says: sunny"


async def test_barge_in(server: RealtimeServer, kit: Kit) -> None:
    async for model, collector in connected(server, kit):
        await model.send_event(kit.send_user_input("Talk to me"))
        await collector.wait_for(lambda e: e.type == "audio")
        for chunk in utterance_chunks():
            await model.send_event(kit.send_audio(base64.b64decode(chunk)))
        await collector.wait_for(lambda e: e.type == "audio_interrupted")
        await collector.wait_for(
            lambda e: (
                e.type == "raw_server_event"
                and isinstance(e.data, dict)
                and e.data.get("type") == "input_audio_buffer.committed"
            )
        )
        done = collector.raw_done()
        assert done[0]["response"]["status"] == "cancelled"
        assert done[0]["response"]["status_details"]["reason"] == "turn_detected"
        errors = [e for e in collector.events if e.type == "error"]
        assert errors == []
