"""The server over real sockets with a plain `websockets` client: turns, barge-in, failures."""

from __future__ import annotations

import base64

import pytest
import websockets
from server_helpers import WEATHER_TOOL, EventRecorder, make_engines, utterance_chunks
from socket_client import connect, kinds, receive, send, until, user_message
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime_agents.server import RealtimeServer, ServerOptions, serve


async def test_text_turn(server: RealtimeServer, recorder: EventRecorder) -> None:
    before = recorder.count
    async with await connect(server.url) as ws:
        created = await receive(ws)
        assert created["type"] == "session.created"
        await send(
            ws,
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]},
            },
        )
        assert (await receive(ws))["session"]["output_modalities"] == ["text"]
        await send(ws, user_message("Hi"))
        await send(ws, {"type": "response.create"})
        events = await until(ws, "response.done")
        order = kinds(events)
        assert order[:6] == [
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
        ]
        assert order[-5:] == [
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text.startswith("Sure, here is a longer answer.")
        assert events[-1]["response"]["status"] == "completed"
        assert recorder.count - before >= len(events) + 2  # every sent event was checked


async def test_audio_turn_with_server_vad(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            },
        )
        await until(ws, "session.updated")
        for chunk in utterance_chunks():
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        events = await until(ws, "response.done")
        order = kinds(events)
        assert order[:5] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        started, stopped = events[0], events[1]
        # 200 ms of silence, then speech; prefix padding 300 ms is clamped at 0.
        assert started["audio_start_ms"] == 0
        assert 800 <= stopped["audio_end_ms"] <= 1100
        completed = [e for e in events if e["type"].endswith("transcription.completed")]
        assert completed[0]["transcript"] == "Hello there."
        assert order.index("conversation.item.input_audio_transcription.completed") < order.index(
            "response.output_item.added"
        )
        audio = b"".join(
            base64.b64decode(e["delta"])
            for e in events
            if e["type"] == "response.output_audio.delta"
        )
        assert len(audio) > 48 * 1000 and len(audio) % 2 == 0
        assert events[-1]["response"]["status"] == "completed"


async def test_function_call_round_trip(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": [WEATHER_TOOL],
                },
            },
        )
        await until(ws, "session.updated")
        await send(ws, user_message("What's the weather in Paris?"))
        await send(ws, {"type": "response.create"})
        events = await until(ws, "response.done")
        call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert call["name"] == "get_weather" and call["arguments"] == '{"city": "Paris"}'
        assert call["call_id"].startswith("call_")
        await send(
            ws,
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": "sunny",
                },
            },
        )
        await send(ws, {"type": "response.create"})
        events = await until(ws, "response.done")
        assert events[0]["previous_item_id"] == call["item_id"]
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert text == "The tool says: sunny"


async def test_barge_in_then_truncate(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await send(ws, user_message("Tell me something long"))
        await send(ws, {"type": "response.create"})
        first = await until(ws, "response.output_audio.delta")
        response_id, item_id = first[-1]["response_id"], first[-1]["item_id"]
        for chunk in utterance_chunks():
            await send(ws, {"type": "input_audio_buffer.append", "audio": chunk})
        events = await until(ws, "response.done")
        assert "input_audio_buffer.speech_started" in kinds(events)
        done = events[-1]["response"]
        assert done["id"] == response_id and done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        await send(
            ws,
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 100,
            },
        )
        truncated = await until(ws, "conversation.item.truncated")
        assert truncated[-1]["audio_end_ms"] == 100
        # The user's turn continues: committed, then a new response.
        events = truncated + await until(ws, "response.done")
        assert "input_audio_buffer.committed" in kinds(events)
        assert events[-1]["response"]["status"] == "completed"
        assert events[-1]["response"]["id"] != response_id


async def test_auth_and_model_failures(server: RealtimeServer) -> None:
    async with await connect(server.url, key=None) as ws:
        error = await receive(ws)
        assert error["type"] == "error" and error["error"]["code"] is None
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 3000
    async with await connect(server.url, key="wrong") as ws:
        assert (await receive(ws))["error"]["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.reason == "invalid_request_error.invalid_api_key"
    async with websockets.connect(server.url, additional_headers={"api-key": "test-key"}) as ws:
        assert (await receive(ws))["error"]["code"] == "missing_model"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    async with websockets.connect(
        server.url + "?model=local",
        subprotocols=["realtime", "openai-insecure-api-key.test-key"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "realtime"
        assert (await receive(ws))["type"] == "session.created"
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(server.url.replace("/v1/realtime", "/elsewhere"))
    assert refused.value.response.status_code == 404


async def test_bad_frames_get_errors_and_the_session_lives_on(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await ws.send("not json")
        assert (await receive(ws))["error"]["code"] == "invalid_json"
        await ws.send(b"\x00\x01")
        assert (await receive(ws))["error"]["code"] == "invalid_event"
        await send(ws, {"type": "input_audio_buffer.append", "audio": "!!", "event_id": "e1"})
        error = (await receive(ws))["error"]
        assert (error["code"], error["event_id"]) == ("invalid_value", "e1")
        await send(ws, {"type": "nope"})
        assert (await receive(ws))["error"]["param"] == "type"
        await send(ws, {"type": "input_audio_buffer.clear"})
        assert (await receive(ws))["type"] == "input_audio_buffer.cleared"


async def test_server_limits(recorder: object) -> None:
    options = ServerOptions(
        max_frame_bytes=1000, max_sessions=1, max_session_seconds=0.3, event_hook=recorder
    )  # type: ignore[arg-type]
    server = await serve("127.0.0.1", 0, make_engines(), options)
    try:
        async with websockets.connect(server.url + "?model=local") as first:
            await receive(first)
            await first.send("x" * 1500)
            assert (await receive(first))["error"]["code"] == "message_too_large"
            async with websockets.connect(server.url + "?model=local") as second:
                error = await receive(second)
                assert error["error"]["code"] == "session_limit_reached"
                with pytest.raises(ConnectionClosed) as closed:
                    await second.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            expired = await receive(first)  # the 0.3 s session lifetime runs out
            assert expired["error"]["code"] == "session_expired"
            with pytest.raises(ConnectionClosed) as closed:
                await first.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    finally:
        await server.close()


async def test_refuses_public_bind_without_key() -> None:
    with pytest.raises(ValueError, match="without an API key"):
        await serve("0.0.0.0", 0, make_engines(), ServerOptions())
