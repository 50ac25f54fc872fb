"""The server's direct read path (messages taken in the socket callback) over real sockets:
every shape of append, fragments, bad UTF-8, and a client that stops reading."""

from __future__ import annotations

import base64
import json

import pytest
import websockets
from server_helpers import EventRecorder, make_engines, tone
from socket_client import connect, receive, send
from websockets.exceptions import ConnectionClosed

from realtime_agents.server import RealtimeServer, ServerOptions, serve

NO_VAD = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}


async def test_appends_in_any_json_shape_reach_the_buffer(server: RealtimeServer) -> None:
    chunk = base64.b64encode(tone(100)).decode()  # 100 ms
    async with await connect(server.url) as ws:
        await receive(ws)
        await send(ws, NO_VAD)
        assert (await receive(ws))["type"] == "session.updated"
        texts = [
            json.dumps({"type": "input_audio_buffer.append", "audio": chunk}),
            json.dumps({"type": "input_audio_buffer.append", "audio": chunk}, indent=1),
            json.dumps({"audio": chunk, "type": "input_audio_buffer.append", "event_id": "a"}),
            json.dumps({"type": "input_audio_buffer.append", "event_id": None, "audio": chunk}),
            json.dumps({"type": "session.input_audio_buffer.append", "audio": chunk}),
            '{"type":"input_audio_buffer.append","audio":"' + chunk.replace("A", "\\u0041") + '"}',
        ]
        for text in texts:
            await ws.send(text)
        await send(ws, {"type": "input_audio_buffer.commit"})
        committed = await receive(ws)
        assert committed["type"] == "input_audio_buffer.committed"
        item = committed["item_id"]
        await send(ws, {"type": "conversation.item.retrieve", "item_id": item})
        while (event := await receive(ws))["type"] != "conversation.item.retrieved":
            pass
        audio = base64.b64decode(event["item"]["content"][0]["audio"])
        assert audio == tone(100) * len(texts)


async def test_bad_appends_get_the_generic_errors(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        bad = [
            ({"type": "input_audio_buffer.append", "audio": "AA", "event_id": "e1"}, "e1"),
            ({"type": "input_audio_buffer.append", "audio": 5, "event_id": "e2"}, "e2"),
            ({"type": "input_audio_buffer.append", "audio": "AAAA", "x": 1}, None),
            ({"type": "input_audio_buffer.append", "event_id": "e4"}, "e4"),
            ({"type": "input_audio_buffer.append", "audio": "AAA=", "event_id": 7}, None),
        ]
        codes = []
        for event, event_id in bad:
            await send(ws, event)
            error = (await receive(ws))["error"]
            assert error["event_id"] == event_id
            codes.append(error["code"])
        assert codes == [
            "invalid_value",
            "invalid_type",
            "unknown_parameter",
            "missing_required_parameter",
            "invalid_type",
        ]
        await send(ws, {"type": "input_audio_buffer.clear"})
        assert (await receive(ws))["type"] == "input_audio_buffer.cleared"


async def test_fragmented_messages_are_joined(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await ws.send(['{"type": "input_audio', '_buffer.clear", "event_id"', ': "f"}'])
        assert (await receive(ws))["type"] == "input_audio_buffer.cleared"
        await ws.send([b"\x00", b"\x01"])
        assert (await receive(ws))["error"]["code"] == "invalid_event"


async def test_invalid_utf8_closes_with_1007(server: RealtimeServer) -> None:
    async with await connect(server.url) as ws:
        await receive(ws)
        await ws.send(b'{"type": "input_audio_buffer.clear", "event_id": "\xff"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007


async def test_a_client_that_stops_reading_gets_every_answer_in_order(
    server: RealtimeServer,
) -> None:
    """The server holds messages and stops reading while its queue is full, then goes on."""
    count = 3000
    async with websockets.connect(
        server.url + "?model=local",
        additional_headers={"Authorization": "Bearer test-key"},
        max_queue=4,  # the client's own reading stops soon, so the server's writes back up
    ) as ws:
        await receive(ws)
        for index in range(count):
            await send(ws, {**NO_VAD, "event_id": f"u{index}"})
        await send(ws, {"type": "input_audio_buffer.clear"})
        kinds = [(await receive(ws))["type"] for _ in range(count + 1)]
        assert kinds == ["session.updated"] * count + ["input_audio_buffer.cleared"]


async def test_compressed_sessions_still_work(recorder: EventRecorder) -> None:
    """With permessage-deflate, websockets parses and frames: the same events arrive."""
    options = ServerOptions(compression=True, event_hook=recorder)
    server = await serve("127.0.0.1", 0, make_engines(), options)
    try:
        async with websockets.connect(server.url + "?model=local") as ws:
            assert ws.protocol.extensions  # negotiated
            assert (await receive(ws))["type"] == "session.created"
            await send(ws, NO_VAD)
            assert (await receive(ws))["type"] == "session.updated"
            await send(ws, {"type": "input_audio_buffer.append", "audio": "AAA="})
            await ws.send(b"\x00", text=False)
            assert (await receive(ws))["error"]["code"] == "invalid_event"
            await send(ws, {"type": "input_audio_buffer.clear"})
            assert (await receive(ws))["type"] == "input_audio_buffer.cleared"
    finally:
        await server.close()
