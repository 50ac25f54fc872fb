"""What one session may hold is bounded, and each bound answers with its error (issue 14,
server 4, 8, 9): items (responses included), bytes of items, out-of-band responses. Figures
are read from the server's own accounting (`RealtimeServer.usage()`), not process RSS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from server_helpers import EventRecorder, make_engines, utterance_chunks
from socket_client import connect, receive, send, until, user_message

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.conversation import DEFAULT_MAX_CONVERSATION_BYTES
from realtime_agents.server.engines.scripted import ScriptedLlm, ScriptedStt, scripted_engine_set

TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


async def started(recorder: EventRecorder, engines: Any = None, **options: Any) -> RealtimeServer:
    return await serve(
        "127.0.0.1",
        0,
        engines or make_engines(),
        ServerOptions(api_key="test-key", event_hook=recorder, **options),
    )


@pytest.fixture
async def five_items(recorder: EventRecorder) -> AsyncIterator[RealtimeServer]:
    server = await started(recorder, max_conversation_items=5)
    try:
        yield server
    finally:
        await server.close()


async def test_responses_do_not_bypass_the_item_limit(five_items: RealtimeServer) -> None:
    codes, items = [], 0
    async with await connect(five_items.url) as ws:
        await receive(ws)
        await send(ws, TEXT_ONLY)
        await until(ws, "session.updated")
        for turn in range(8):
            await send(ws, user_message(f"turn {turn}"))
            await send(ws, {"type": "response.create", "event_id": f"create_{turn}"})
            while True:  # the response's end, or the refusal of the create
                event = await receive(ws)
                items += event["type"] == "conversation.item.added"
                if event["type"] == "error":
                    codes.append(event["error"]["code"])
                    if event["error"]["event_id"] == f"create_{turn}":
                        break
                elif event["type"] == "response.done":
                    break
            assert five_items.usage()[0].conversation_items <= 5
    assert items == 5  # (15 when responses added items past the limit)
    assert "conversation_max_items_exceeded" in codes


async def test_a_response_that_needs_an_item_past_the_limit_fails_with_the_limit(
    recorder: EventRecorder,
) -> None:
    server = await started(recorder, max_conversation_items=1)
    try:
        async with await connect(server.url) as ws:
            await receive(ws)
            for chunk in utterance_chunks():  # the committed turn takes the one item
                await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
            done = (await until(ws, "response.done"))[-1]["response"]
            assert done["status"] == "failed"
            assert done["status_details"]["error"]["code"] == "conversation_max_items_exceeded"
            assert done["output"] == []
            assert server.usage()[0].conversation_items == 1
    finally:
        await server.close()


async def test_the_4_mib_item_flood_stays_under_the_byte_bound(recorder: EventRecorder) -> None:
    server = await started(recorder)
    text = "x" * (4 * 1024 * 1024)
    accepted, refused = 0, []
    try:
        async with await connect(server.url, max_size=None) as ws:
            await receive(ws)
            for _ in range(12):
                await send(ws, user_message(text))
                event = await receive(ws)
                if event["type"] == "error":
                    refused.append(event["error"])
                else:
                    assert event["type"] == "conversation.item.added"
                    assert (await receive(ws))["type"] == "conversation.item.done"
                    accepted += 1
                held = server.usage()[0].conversation_bytes
                assert held <= DEFAULT_MAX_CONVERSATION_BYTES
    finally:
        await server.close()
    assert accepted == 7  # 7 x 4 MiB (+ overhead) fit in 32 MiB, the 8th would not
    assert [error["code"] for error in refused] == ["conversation_max_bytes_exceeded"] * 5
    assert str(DEFAULT_MAX_CONVERSATION_BYTES) in refused[0]["message"]


async def test_out_of_band_responses_are_capped_per_session(recorder: EventRecorder) -> None:
    engines = scripted_engine_set(
        stt=ScriptedStt(default="hi"), llm=ScriptedLlm(reply="one two three", token_delay_s=0.05)
    )
    server = await started(recorder, engines, max_out_of_band_responses=3)
    in_progress, most, codes = 0, 0, []
    try:
        async with await connect(server.url) as ws:
            await receive(ws)
            await send(ws, TEXT_ONLY)
            await until(ws, "session.updated")
            for index in range(200):
                await send(
                    ws,
                    {
                        "type": "response.create",
                        "event_id": f"oob_{index}",
                        "response": {"conversation": "none"},
                    },
                )
            answered = 0
            while answered < 200:
                event = await receive(ws)
                if event["type"] == "response.created":
                    in_progress += 1
                    most = max(most, in_progress)
                    answered += 1
                elif event["type"] == "response.done":
                    in_progress -= 1
                elif event["type"] == "error":
                    codes.append(event["error"]["code"])
                    answered += 1
                assert server.usage()[0].out_of_band_responses <= 3
            while in_progress:
                if (await receive(ws))["type"] == "response.done":
                    in_progress -= 1
    finally:
        await server.close()
    assert most == 3
    assert len(codes) >= 100 and set(codes) == {"out_of_band_response_limit_reached"}


async def test_a_flooding_session_leaves_room_for_another(recorder: EventRecorder) -> None:
    """While one session floods out-of-band responses, another's answer is not queued behind
    them: at most a cap's worth of the flood finishes before it (all 500 did, unbounded)."""
    engines = scripted_engine_set(
        stt=ScriptedStt(default="hi"), llm=ScriptedLlm(reply="one two three", token_delay_s=0.01)
    )
    server = await started(recorder, engines, max_out_of_band_responses=4)
    order: list[str] = []

    async def read(ws: Any, name: str, answers: int) -> None:
        while answers:
            event = await receive(ws)
            if event["type"] == "response.done":
                order.append(name)
                answers -= 1
            elif event["type"] == "error":
                answers -= 1

    try:
        async with await connect(server.url) as flood, await connect(server.url) as other:
            for ws in (flood, other):
                await receive(ws)
                await send(ws, TEXT_ONLY)
                await until(ws, "session.updated")
            oob = {"type": "response.create", "response": {"conversation": "none"}}
            for _ in range(500):
                await send(flood, oob)
            await send(other, user_message("hello"))
            await send(other, {"type": "response.create"})
            async with asyncio.timeout(60):
                await asyncio.gather(read(flood, "flood", 500), read(other, "other", 1))
            assert max(usage.out_of_band_responses for usage in server.usage()) <= 4
    finally:
        await server.close()
    assert order.index("other") <= 2 * 4, order[:20]
