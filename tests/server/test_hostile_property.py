"""Hypothesis over every client event type (issue 14): whatever a client sends, it gets an
`error` event or the event is accepted, the session answers the next event, the server sends
only events the openai types accept, and nothing is logged as an error or with a traceback.

Events are generated from the shape of each client event (known keys, plausible values) with
any JSON value anywhere, plus raw texts that are not events at all; the server runs in a
thread of its own, driven by a synchronous client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_client import ServerLog, watched_log
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_helpers import EventRecorder, silence, tone
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.engines.scripted import ScriptedLlm, ScriptedStt, scripted_engine_set
from realtime_agents.server.protocol import CLIENT_EVENT_TYPES

ANY = None
"""A template leaf: any JSON value."""
ITEM_IDS = ["item_a", "item_b", "item_c"]
AUDIO = [
    base64.b64encode(chunk).decode() for chunk in (silence(100), tone(100), tone(20), b"\x01", b"")
] + ["not base64!", "AAA"]
FORMAT = {"type": ["audio/pcm", "audio/pcmu", "audio/pcma"], "rate": [24000, 8000, 16000]}
TOOL = {"type": ["function", "mcp"], "name": ANY, "description": ANY, "parameters": ANY}
ITEM = {
    "id": ITEM_IDS,
    "type": ["message", "function_call", "function_call_output", "item_reference"],
    "role": ["user", "assistant", "system"],
    "content": [
        {
            "type": ["input_text", "input_audio", "output_text", "output_audio", "input_image"],
            "text": ANY,
            "audio": AUDIO,
            "transcript": ANY,
            "image_url": ANY,
            "detail": ["auto", "low", "high"],
        }
    ],
    "call_id": ANY,
    "name": ANY,
    "arguments": ANY,
    "output": ANY,
    "status": ["completed", "incomplete", "in_progress"],
}
TURN_DETECTION = {
    "type": ["server_vad", "semantic_vad"],
    "threshold": [0.5, 0.9, int("9" * 401)],
    "prefix_padding_ms": ANY,
    "silence_duration_ms": [200, 500],
    "idle_timeout_ms": [None, 5000],
    "create_response": [True, False],
    "interrupt_response": [True, False],
    "eagerness": ["low", "medium", "high", "auto"],
}
SESSION = {
    "type": ["realtime", "transcription"],
    "model": ANY,
    "instructions": ANY,
    "output_modalities": [["text"], ["audio"]],
    "audio": {
        "input": {
            "format": FORMAT,
            "transcription": {"model": ANY, "language": ANY, "prompt": ANY},
            "noise_reduction": {"type": ["near_field", "far_field"]},
            "turn_detection": TURN_DETECTION,
        },
        "output": {"format": FORMAT, "voice": ["alloy", "marin"], "speed": [1.0, 0.1, 2]},
    },
    "tools": [TOOL],
    "tool_choice": ["auto", "none", "required"],
    "max_output_tokens": [1, 4096, "inf"],
    "tracing": {"workflow_name": ANY, "group_id": ANY, "metadata": ANY},
    "truncation": {
        "type": ["retention_ratio"],
        "retention_ratio": ANY,
        "token_limits": {"post_instructions": ANY},
    },
    "prompt": {"id": ANY, "version": ANY, "variables": ANY},
    "include": [["item.input_audio_transcription.logprobs"]],
    "reasoning": {"effort": ["low", "high"]},
    "parallel_tool_calls": [True, False],
}
FIELDS: dict[str, dict[str, Any]] = {
    "session.update": {"session": SESSION},
    "session.close": {},
    "input_audio_buffer.append": {"audio": AUDIO},
    "session.input_audio_buffer.append": {"audio": AUDIO},
    "input_audio_buffer.commit": {},
    "input_audio_buffer.clear": {},
    "conversation.item.create": {"item": ITEM, "previous_item_id": [*ITEM_IDS, "root"]},
    "conversation.item.truncate": {
        "item_id": ITEM_IDS,
        "content_index": [0, 1],
        "audio_end_ms": [0, 100],
    },
    "conversation.item.delete": {"item_id": ITEM_IDS},
    "conversation.item.retrieve": {"item_id": ITEM_IDS},
    "response.create": {
        "response": {
            "output_modalities": [["text"], ["audio"]],
            "instructions": ANY,
            "audio": {"output": {"format": FORMAT, "voice": ["alloy"]}},
            "tools": [TOOL],
            "tool_choice": ["auto", "none"],
            "max_output_tokens": [1, "inf"],
            "conversation": ["auto", "none"],
            "input": [ITEM],
            "metadata": ANY,
            "prompt": {"id": ANY},
            "parallel_tool_calls": [True],
        }
    },
    "response.cancel": {"response_id": ANY},
}
REQUIRED = {"session", "audio", "item", "item_id", "content_index", "audio_end_ms", "type", "name"}
"""Keys always generated where the shape has them (the others only sometimes)."""
assert set(FIELDS) == set(CLIENT_EVENT_TYPES), "a new client event needs its shape here"

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**450), max_value=10**450)
    | st.floats()  # (NaN and infinities make json.dumps write invalid JSON)
    | st.text(max_size=12)
    | st.sampled_from(["\udcff", "a\x00b", "x" * 5000])  # a lone surrogate, a NUL, a long one
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def shaped(template: Any) -> st.SearchStrategy[Any]:
    """Values shaped like `template` (a dict of keys, a one-element list, a list of choices or
    `ANY`), with any JSON value in place of any part now and then."""
    if template is ANY:
        return JSON_VALUE
    if isinstance(template, dict):
        structured: st.SearchStrategy[Any] = st.fixed_dictionaries(
            {key: shaped(value) for key, value in template.items() if key in REQUIRED},
            optional={key: shaped(value) for key, value in template.items() if key not in REQUIRED},
        )
    elif isinstance(template, list) and len(template) == 1 and isinstance(template[0], dict):
        structured = st.lists(shaped(template[0]), max_size=3)
    else:
        structured = st.sampled_from(template)
    return mostly(structured, JSON_VALUE)


def rarely() -> st.SearchStrategy[bool]:
    """True one time in ten (not biased towards True as small integers are)."""
    return st.sampled_from([False] * 9 + [True])


@st.composite
def mostly(draw: st.DrawFn, usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """`usual` nine times in ten, else `other`."""
    return draw(other if draw(rarely()) else usual)


@st.composite
def client_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(CLIENT_EVENT_TYPES))
    fields = draw(shaped(FIELDS[kind]))
    event = {"type": kind, **(fields if isinstance(fields, dict) else {})}
    if draw(st.booleans()):
        event["event_id"] = draw(mostly(st.text(max_size=10), JSON_VALUE))
    if draw(rarely()):
        event[draw(st.text(max_size=6))] = draw(JSON_VALUE)  # an unknown key
    if draw(rarely()):
        event["type"] = draw(JSON_VALUE)  # not a known type at all
    return event


def _dumps(event: dict[str, Any]) -> str:
    try:
        return json.dumps(event)
    except (ValueError, RecursionError):
        return "{}"


MESSAGES = mostly(client_events().map(_dumps), st.text(max_size=40))
DEEP = "[" * 1000 + "]" * 1000
HUGE = "9" * 401


class _Session:
    """The server in a thread of its own, and the current connection to it."""

    def __init__(self, recorder: EventRecorder) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        engines = scripted_engine_set(stt=ScriptedStt(default="Hello."), llm=ScriptedLlm("Hi."))
        options = ServerOptions(api_key="test-key", event_hook=recorder)
        self.server: RealtimeServer = asyncio.run_coroutine_threadsafe(
            serve("127.0.0.1", 0, engines, options), self.loop
        ).result(30)
        self.ws: ClientConnection | None = None
        self.probes = 0

    def connection(self) -> ClientConnection:
        if self.ws is not None and self.ws.state is not State.OPEN:
            self.ws = None  # (a failed example may leave it closed; the next one starts afresh)
        if self.ws is None:
            self.ws = connect(
                self.server.url + "?model=local",
                additional_headers={"Authorization": "Bearer test-key"},
                max_size=None,
                open_timeout=30,
            )
            assert json.loads(self.ws.recv(30))["type"] == "session.created"
        return self.ws

    def reconnect(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.ws = None

    def probe(self) -> list[dict[str, Any]]:
        """Every event up to the answer to a retrieve of a missing item."""
        self.probes += 1
        probe_id = f"probe_{self.probes}"
        ws = self.connection()
        ws.send(
            json.dumps(
                {"type": "conversation.item.retrieve", "item_id": "missing", "event_id": probe_id}
            )
        )
        seen = []
        while True:
            event = json.loads(ws.recv(30))
            if event["type"] == "error" and event["error"]["event_id"] == probe_id:
                return seen
            seen.append(event)

    def close(self) -> None:
        self.reconnect()
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def session(recorder: EventRecorder) -> Iterator[_Session]:
    running = _Session(recorder)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def server_log() -> Iterator[ServerLog]:
    yield from watched_log()


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=MESSAGES)
@example(message=DEEP)
@example(message='{"type": "session.update", "session": ' + DEEP + "}")
@example(message=f'{{"type": "session.update", "session": {{"type": "realtime", "audio": '
         f'{{"output": {{"speed": {HUGE}}}}}}}}}')  # fmt: skip
@example(message=f'{{"type": "session.update", "session": {{"type": "realtime", "truncation": '
         f'{{"type": "retention_ratio", "retention_ratio": {HUGE}}}}}}}')  # fmt: skip
@example(message='{"type": "session.update", "session": {"type": "realtime", "tools": [{"name": '
         '"f", "parameters": ' + "[" * 486 + "]" * 486 + "}]}}")  # fmt: skip
@example(message='{"type": "\\udcff"}')
@example(message=json.dumps({"type": "x" * 100_000}))
def test_any_client_message_is_answered_and_the_session_goes_on(
    session: _Session, server_log: ServerLog, message: str
) -> None:
    ws = session.connection()
    logged = len(server_log.records)
    ws.send(message)
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    closing = isinstance(parsed, dict) and parsed.get("type") == "session.close"
    try:
        events = session.probe()
    except ConnectionClosed as closed:
        # Only a valid `session.close` ends the session (1000).
        assert closing, (message[:200], closed)
        assert closed.rcvd is not None and closed.rcvd.code == 1000, (message[:200], closed)
        session.reconnect()
        return
    if closing:  # (the probe may be answered before the close: start afresh either way)
        session.reconnect()
    server_errors = [e["error"] for e in events if e["type"] == "error"]
    assert all(error["type"] == "invalid_request_error" for error in server_errors), (
        message[:200],
        server_errors,
    )
    assert all(len(error["message"]) <= 1000 for error in server_errors)
    assert server_log.lines()[logged:] == [], message[:200]
