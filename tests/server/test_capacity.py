"""A server at capacity refuses new turns and says so (issue 14, item 10): past
`max_concurrent_responses` across sessions, a `response.create` gets `server_at_capacity` and
a turn the VAD ends gets a `failed` response with that error, never silence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from server_helpers import EventRecorder, utterance_chunks
from socket_client import connect, receive, send, until, user_message

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.scripted import ScriptedLlm, ScriptedStt, scripted_engine_set

TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


@pytest.fixture
async def one_at_a_time(recorder: EventRecorder) -> AsyncIterator[RealtimeServer]:
    engines = scripted_engine_set(
        stt=ScriptedStt(default="Hello."),
        llm=ScriptedLlm(reply="one two three four five six", token_delay_s=0.05),
    )
    options = ServerOptions(api_key="test-key", event_hook=recorder, max_concurrent_responses=1)
    server = await serve("127.0.0.1", 0, engines, options)
    try:
        yield server
    finally:
        await server.close()


async def test_turns_past_capacity_are_refused_and_say_so(one_at_a_time: RealtimeServer) -> None:
    async with await connect(one_at_a_time.url) as busy, await connect(one_at_a_time.url) as other:
        for ws in (busy, other):
            await receive(ws)
            await send(ws, TEXT_ONLY)
            await until(ws, "session.updated")
        await send(busy, user_message("take the only slot"))
        await send(busy, {"type": "response.create"})
        await until(busy, "response.created")

        await send(other, user_message("and me?"))
        await send(other, {"type": "response.create", "event_id": "evt_refused"})
        error = (await until(other, "error"))[-1]["error"]
        assert (error["type"], error["code"], error["event_id"]) == (
            "server_error",
            "server_at_capacity",
            "evt_refused",
        )
        assert "--max-concurrent-responses 1" in error["message"]

        for chunk in utterance_chunks():  # a turn the VAD ends: refused in response.done
            await send(other, {"type": "input_audio_buffer.append", "audio": chunk})
        done = (await until(other, "response.done"))[-1]["response"]
        assert done["status"] == "failed"
        assert done["status_details"]["error"]["code"] == "server_at_capacity"

        assert (await until(busy, "response.done"))[-1]["response"]["status"] == "completed"
        await send(other, {"type": "response.create"})  # the slot is free again
        assert (await until(other, "response.done"))[-1]["response"]["status"] == "completed"


async def test_a_session_that_ends_mid_response_gives_its_slot_back(
    one_at_a_time: RealtimeServer,
) -> None:
    async with await connect(one_at_a_time.url) as leaving:
        await receive(leaving)
        await send(leaving, TEXT_ONLY)
        await until(leaving, "session.updated")
        await send(leaving, {"type": "response.create"})
        await until(leaving, "response.created")
    for _ in range(100):  # the server ends the session once it sees the close
        if one_at_a_time.capacity.in_progress == 0:
            break
        await asyncio.sleep(0.05)
    assert one_at_a_time.capacity.in_progress == 0
    async with await connect(one_at_a_time.url) as staying:
        await receive(staying)
        await send(staying, TEXT_ONLY)
        await until(staying, "session.updated")
        await send(staying, {"type": "response.create"})
        done = (await until(staying, "response.done"))[-1]["response"]
        assert done["status"] == "completed"
    assert one_at_a_time.capacity.in_progress <= 1
