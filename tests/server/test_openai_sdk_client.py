"""The official `openai` SDK realtime client against the local server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from server_helpers import WEATHER_TOOL, utterance_chunks

from realtime_agents.server import RealtimeServer


def client_for(server: RealtimeServer) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key="test-key",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        websocket_base_url=f"ws://127.0.0.1:{server.port}/v1",
    )


async def until(connection: AsyncRealtimeConnection, kind: str) -> list[Any]:
    seen = []
    async for event in connection:
        seen.append(event)
        if event.type == kind:
            return seen
    raise AssertionError(f"connection ended before {kind}")


async def connected(server: RealtimeServer) -> AsyncIterator[AsyncRealtimeConnection]:
    async with client_for(server).realtime.connect(model="local") as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        yield connection


async def test_text_turn(server: RealtimeServer) -> None:
    async for connection in connected(server):
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        updated = (await until(connection, "session.updated"))[-1]
        assert updated.session.output_modalities == ["text"]
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}],
            }
        )
        await connection.response.create()
        events = await until(connection, "response.done")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text.startswith("Sure, here is a longer answer.")
        assert events[-1].response.status == "completed"


async def test_audio_turn_with_server_vad(server: RealtimeServer) -> None:
    async for connection in connected(server):
        for chunk in utterance_chunks():
            await connection.input_audio_buffer.append(audio=chunk)
        events = await until(connection, "response.done")
        types = [e.type for e in events]
        assert types.index("input_audio_buffer.speech_stopped") < types.index("response.created")
        audio = b"".join(
            base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
        )
        assert len(audio) > 48 * 1000
        transcript = next(e for e in events if e.type == "response.output_audio_transcript.done")
        assert transcript.transcript.startswith("Sure, here is")


async def test_function_call_round_trip(server: RealtimeServer) -> None:
    async for connection in connected(server):
        await connection.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})  # type: ignore[list-item]
        await until(connection, "session.updated")
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Is the weather nice?"}],
            }
        )
        await connection.response.create()
        events = await until(connection, "response.done")
        call = events[-1].response.output[0]
        assert call.type == "function_call" and call.name == "get_weather"
        await connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "rain"}
        )
        await connection.response.create(response={"output_modalities": ["text"]})
        events = await until(connection, "response.done")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == "The tool says: rain"


async def test_barge_in(server: RealtimeServer) -> None:
    async for connection in connected(server):
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Talk"}],
            }
        )
        await connection.response.create()
        first = (await until(connection, "response.output_audio.delta"))[-1]
        for chunk in utterance_chunks():
            await connection.input_audio_buffer.append(audio=chunk)
        done = (await until(connection, "response.done"))[-1]
        assert done.response.id == first.response_id and done.response.status == "cancelled"
        assert done.response.status_details.reason == "turn_detected"
        await connection.conversation.item.truncate(
            item_id=first.item_id, content_index=0, audio_end_ms=50
        )
        truncated = (await until(connection, "conversation.item.truncated"))[-1]
        assert truncated.item_id == first.item_id and truncated.audio_end_ms == 50
        error_check: dict[str, Any] = {}
        await connection.conversation.item.truncate(
            item_id=first.item_id, content_index=0, audio_end_ms=999_999, event_id="evt_t"
        )
        async for event in connection:
            if event.type == "error":
                error_check = {"param": event.error.param, "event_id": event.error.event_id}
                break
        assert error_check == {"param": "audio_end_ms", "event_id": "evt_t"}
