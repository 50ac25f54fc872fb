"""Messages go from the socket callback to the protocol (no recv()): framing edge cases."""

from __future__ import annotations

import json

from provider_helpers import Collector, open_model

from realtime_agents.testing.fake_server import FakeRealtimeServer


def _error_frame(message: str) -> str:
    return json.dumps(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": "x", "message": message},
        }
    )


async def test_a_fragmented_message_is_delivered_whole(server: FakeRealtimeServer) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    text = _error_frame("sent in three fragments")
    await server.connection.ws.send([text[:10], text[10:40], text[40:]])
    event = await collector.wait_for("error")
    assert event.error.message == "sent in three fragments"
    await server.send(_error_frame("and the next one alone"))
    assert (await collector.wait_for("error", 2)).error.message == "and the next one alone"
    await model.close()


async def test_a_binary_frame_is_decoded_like_a_text_frame(server: FakeRealtimeServer) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    await server.connection.ws.send(_error_frame("binary").encode(), text=False)
    assert (await collector.wait_for("error")).error.message == "binary"
    await model.close()


async def test_a_message_over_max_size_ends_the_connection(server: FakeRealtimeServer) -> None:
    collector = Collector()
    model = await open_model(server, collector, model_options={"transport": {"max_size": 4096}})
    await server.send(_error_frame("x" * 5000))
    await collector.wait_for("end_of_stream")
    closed = [e for e in collector.of("error") if e.error.code == "connection_closed"]
    # websockets fails the connection with 1009: the error names that code.
    assert closed and "code 1009" in closed[-1].error.message
    assert not [e for e in collector.of("error") if e.error.message == "x" * 5000]
    await model.close()


async def test_a_missing_pong_drops_the_connection(server: FakeRealtimeServer) -> None:
    collector = Collector()
    transport = {"ping_interval": 0.05, "ping_timeout": 0.05, "close_timeout": 0.2}
    model = await open_model(server, collector, model_options={"transport": transport})
    await server.stall(5.0)
    await collector.wait_for("end_of_stream")
    closed = [e for e in collector.of("error") if e.error.code == "connection_closed"]
    assert closed and ("1011" in closed[-1].error.message or "1006" in closed[-1].error.message)
    await model.close()
