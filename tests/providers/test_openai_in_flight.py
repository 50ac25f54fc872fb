"""Client messages in flight when the connection drops (issue 14, item 13).

A user message, a tool output, a raw item, a session update and a commit sent while the
server is not reading, then a drop: before, the replay restored the acknowledged history and
the uncommitted audio but lost these. Now they are sent again, once, and what the server did
acknowledge is not duplicated.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from provider_helpers import Collector, open_model

from realtime_agents.events import RealtimeModelToolCallEvent
from realtime_agents.inputs import (
    RealtimeModelSendAudio,
    RealtimeModelSendRawMessage,
    RealtimeModelSendSessionUpdate,
    RealtimeModelSendToolOutput,
    RealtimeModelSendUserInput,
)
from realtime_agents.providers.openai.inflight import InFlightItems
from realtime_agents.providers.openai.protocol import OpenAIRealtimeProtocol
from realtime_agents.testing.fake_server import FakeRealtimeServer, events_of

FAST_RECONNECT = {"max_attempts": 5, "initial_backoff_s": 0.01, "max_backoff_s": 0.05}
AUDIO = bytes(range(256)) * 30


def texts(received: list[dict[str, Any]]) -> list[str]:
    """The text or output of every item created on one connection, in order."""
    found = []
    for event in events_of(received, "conversation.item.create"):
        item = event["item"]
        if item["type"] == "function_call_output":
            found.append(f"output:{item['output']}")
        else:
            found.extend(part.get("text", part["type"]) for part in item["content"])
    return found


async def reconnected(server: FakeRealtimeServer, collector: Collector, count: int) -> None:
    await collector.wait_for("connection_status", count, lambda e: e.status == "connected")
    await server.wait_for_connections(count)


async def test_messages_in_flight_at_a_drop_are_sent_again_once() -> None:
    async with FakeRealtimeServer() as server:
        collector = Collector()
        model = await open_model(server, collector, reconnect=FAST_RECONNECT)
        await model.send_event(RealtimeModelSendUserInput("acknowledged", start_response=False))
        await collector.wait_for("item_updated")
        assert len(model.protocol.in_flight) == 0

        stall = asyncio.create_task(server.stall(60))  # the server stops reading
        await asyncio.sleep(0)
        call = RealtimeModelToolCallEvent(name="lookup", call_id="call_1", arguments="{}")
        await model.send_event(RealtimeModelSendUserInput("in flight", start_response=False))
        await model.send_event(RealtimeModelSendToolOutput(call, "42", start_response=False))
        raw = {"type": "function_call_output", "call_id": "call_2", "output": "raw"}
        await model.send_event(
            RealtimeModelSendRawMessage({"type": "conversation.item.create", "item": raw})
        )
        await model.send_event(RealtimeModelSendSessionUpdate({"instructions": "Be brief."}))
        await model.send_event(RealtimeModelSendAudio(AUDIO, commit=True))
        assert len(model.protocol.in_flight) == 3
        await server.close_connection(1006)  # what it did not read is lost with it
        stall.cancel()

        await reconnected(server, collector, 2)
        await server.wait_for("input_audio_buffer.commit")
        second = server.connections[1].received
        assert texts(second) == ["acknowledged", "in flight", "output:42", "output:raw"]
        update = events_of(second, "session.update")[0]
        assert update["session"]["instructions"] == "Be brief."
        appends = events_of(second, "input_audio_buffer.append")
        assert b"".join(base64.b64decode(e["audio"]) for e in appends) == AUDIO
        kinds = [e["type"] for e in second]
        assert kinds.index("input_audio_buffer.commit") > kinds.index("input_audio_buffer.append")
        assert kinds.count("input_audio_buffer.commit") == 1

        # The second server acknowledged everything: another drop sends nothing twice.
        await server.wait_for("conversation.item.create", 5)
        async with asyncio.timeout(10):
            while len(model.protocol.in_flight):  # noqa: ASYNC110 - polling a plain counter
                await asyncio.sleep(0.01)
        await server.close_connection(1006)
        await reconnected(server, collector, 3)
        await server.wait_for("conversation.item.create", 10)
        await asyncio.sleep(0.1)  # anything sent twice would arrive now
        third = server.connections[2].received
        assert sorted(texts(third)) == sorted(
            ["acknowledged", "in flight", "output:42", "output:raw", "input_audio"]
        )
        assert "input_audio_buffer.commit" not in [e["type"] for e in third]
        assert not collector.of("exception")
        await model.close()


async def test_a_rejected_create_is_not_sent_again() -> None:
    async with FakeRealtimeServer() as server:
        collector = Collector()
        model = await open_model(server, collector, reconnect=FAST_RECONNECT)
        stall = asyncio.create_task(server.stall(60))
        await asyncio.sleep(0)
        item = {"id": "item_mine", "type": "message", "role": "user", "content": []}
        create = {"type": "conversation.item.create", "event_id": "evt_mine", "item": item}
        await model.send_event(RealtimeModelSendRawMessage(create))
        await model.send_event(RealtimeModelSendUserInput("kept", start_response=False))
        assert len(model.protocol.in_flight) == 2
        error = {"type": "invalid_request_error", "code": "x", "message": "no"}
        await server.send({"type": "error", "error": {**error, "event_id": "evt_mine"}})
        await collector.wait_for("error")
        assert len(model.protocol.in_flight) == 1
        await server.close_connection(1006)
        stall.cancel()
        await reconnected(server, collector, 2)
        await server.wait_for("conversation.item.create")
        assert texts(server.connections[1].received) == ["kept"]
        await model.close()


def test_the_record_is_bounded_by_bytes_and_says_so_once() -> None:
    record = InFlightItems(max_bytes=100)
    assert record.add("a", "ea", b"x" * 60) is None
    overflow = record.add("b", "eb", b"y" * 60)
    assert overflow is not None and overflow.error.code == "replay_inflight_overflow"
    assert record.replay_frames() == [b"y" * 60] and record.size == 60
    assert record.add("c", "ec", b"z" * 60) is None  # the same episode: reported once
    record.rejected("ec")
    record.acknowledge("b")
    assert len(record) == 0 and record.size == 0 and record.replay_frames() == []


def test_an_unacknowledged_create_is_replayed_after_the_history_and_ids_match() -> None:
    protocol = OpenAIRealtimeProtocol()
    protocol.receive(b'{"type":"session.created","session":{"type":"realtime"}}', 0.0)
    protocol.send(RealtimeModelSendUserInput("one", start_response=False), 0.0)
    sent = json.loads(protocol.outbox[-1][1])
    item_id = sent["item"]["id"]
    assert sent["event_id"].startswith("evt_c") and item_id.startswith("item_c")
    protocol.outbox.clear()  # written
    protocol.on_connection_lost()
    protocol.receive(b'{"type":"session.created","session":{"type":"realtime"}}', 0.0)
    replayed = [json.loads(frame) for _, frame in protocol.outbox]
    assert [e["item"]["id"] for e in replayed if "item" in e] == [item_id]
    added = {"type": "conversation.item.added", "item": {**sent["item"], "status": "completed"}}
    protocol.receive(json.dumps(added).encode(), 0.0)
    assert len(protocol.in_flight) == 0
    protocol.outbox.clear()
    protocol.on_connection_lost()
    protocol.receive(b'{"type":"session.created","session":{"type":"realtime"}}', 0.0)
    replayed = [json.loads(frame) for _, frame in protocol.outbox]
    assert [e["item"]["id"] for e in replayed if "item" in e] == [item_id]  # from the history
