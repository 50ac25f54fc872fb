"""Hostile server frames (issue 14, item 11): invalid UTF-8 and deep nesting are reported as
`error` events or a 1007 close, never as `exception` events, and the session goes on where
the protocol allows."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from provider_helpers import Collector, open_model

from realtime_agents.providers.openai.frames import MAX_NESTING, nesting_within
from realtime_agents.providers.openai.protocol import OpenAIRealtimeProtocol
from realtime_agents.testing.fake_server import FakeRealtimeServer

INVALID_UTF8 = b'{"type":"vendor.note","text":"caf\xc3"}'
DEEP = b'{"type":"vendor.note","value":' + b"[" * 5000 + b"]" * 5000 + b"}"
FAST_RECONNECT = {"max_attempts": 3, "initial_backoff_s": 0.01, "max_backoff_s": 0.05}


async def test_invalid_utf8_text_frame_fails_the_connection_with_1007(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    await open_model(server, collector)
    await server.send(INVALID_UTF8)
    await collector.wait_for("end_of_stream")
    assert server.connection.ws.close_code == 1007
    errors = collector.of("error")
    assert errors[-1].error.code == "connection_closed"
    assert "not valid UTF-8" in errors[-1].error.message
    assert "1007" in errors[-1].error.message
    assert not collector.of("exception")
    assert not collector.of("other")  # the invalid message was not handed on


async def test_invalid_utf8_with_reconnect_on_goes_on_in_a_new_connection(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await server.send(INVALID_UTF8)
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    reconnecting = collector.of("connection_status")
    assert any(e.status == "reconnecting" and "UTF-8" in (e.reason or "") for e in reconnecting)
    await server.send({"type": "vendor.note", "text": "after"})
    note = await collector.wait_for("other")
    assert note.data["text"] == "after"
    assert not collector.of("exception")
    await model.close()


async def test_deeply_nested_frames_become_error_events_and_the_session_goes_on(
    server: FakeRealtimeServer,
) -> None:
    collector = Collector()
    model = await open_model(server, collector)
    await server.send(DEEP)  # a text frame
    await server.connection.ws.send(DEEP, text=False)  # the same as a binary frame
    await server.connection.ws.send(INVALID_UTF8, text=False)  # binary: no UTF-8 rule
    await server.send({"type": "vendor.note", "text": "after"})
    note = await collector.wait_for("other")
    assert note.data["text"] == "after"
    errors = [e.error for e in collector.of("error")]
    assert [e.code for e in errors] == ["malformed_frame"] * 3
    assert f"nested deeper than {MAX_NESTING} levels" in errors[0].message
    assert f"nested deeper than {MAX_NESTING} levels" in errors[1].message
    assert "not valid UTF-8" in errors[2].message
    assert not collector.of("exception")
    assert server.connection.ws.close_code is None  # still open
    await model.close()


def test_the_protocol_reports_deep_frames_and_keeps_raw_events_safe() -> None:
    protocol = OpenAIRealtimeProtocol(emit_raw_events=True)
    for frame in (DEEP, DEEP.decode(), b'{"type":"response.output_audio.delta",' + DEEP[1:]):
        events = protocol.receive(frame, 0.0)
        assert [e.type for e in events] == ["error"]


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


@given(json_values, st.integers(min_value=0, max_value=6))
def test_nesting_within_agrees_with_the_depth_of_the_decoded_value(
    value: object, limit: int
) -> None:
    text = json.dumps(value)
    expected = _depth(value) <= limit
    assert nesting_within(text, limit) is expected
    assert nesting_within(text.encode(), limit) is expected
