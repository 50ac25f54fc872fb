"""`FakeRealtimeServer`: a scriptable OpenAI Realtime (GA) WebSocket server on 127.0.0.1, for tests.

It answers like the real API (session.created on connect, session.updated, items added/done,
one active response at a time with `conversation_already_has_active_response` otherwise,
cancel, truncate checked against the audio sent), records what clients send, and injects
faults: closes with any code (also mid-response), stalls, malformed frames, duplicated or
reordered events, unknown event types.

It is deliberately independent of the local server (`realtime_agents.server`): a test oracle
for the client side, written from the API's documented behaviour and scripted per test. It
shares no code with the server's protocol core, so a mistake in that core cannot hide a
mistake in the client (and the server is tested against the client and the `openai` SDK on
its own). Its `error` events carry the API's codes, which clients act on, with messages of
its own ("fake server: ..."): no test should depend on an error's wording.

Example::

    from realtime_agents.testing.fake_server import FakeRealtimeServer, text_response

    async def test_hello():
        async with FakeRealtimeServer() as server:
            server.script(text_response("Hi there!"))
            model = OpenAIRealtimeWebSocketModel()
            await model.connect({"url": server.url, "api_key": "test"})
            await model.send_event(RealtimeModelSendUserInput("Hello"))
            await server.wait_for("response.done")
            assert server.received_types().count("response.create") == 1
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .._wsdirect import close_without_status, transport_of
from ..providers.openai.redact import RedactingLogger
from .fake_script import (
    Event,
    ScriptedResponse,
    Transform,
    audio_response,
    duplicate,
    function_call,
    response_events,
    swap_first,
    text_response,
)

__all__ = [
    "Event",
    "FakeConnection",
    "FakeRealtimeServer",
    "ScriptedResponse",
    "Transform",
    "audio_response",
    "duplicate",
    "events_of",
    "function_call",
    "swap_first",
    "text_response",
]


@dataclass
class FakeConnection:
    """One client connection: its request headers and the events it sent, parsed."""

    ws: ServerConnection
    headers: dict[str, str]
    path: str
    received: list[Event] = field(default_factory=list)
    session: Event = field(default_factory=dict)
    active_response: str | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    audio_bytes: dict[str, int] = field(default_factory=dict)
    input_buffer_bytes: int = 0
    input_audio_total: int = 0
    """Every input audio byte of the session (audio_start_ms/audio_end_ms count from its start,
    as OpenAI's do)."""
    last_item_id: str | None = None
    item_ids: set[str] = field(default_factory=set)
    """Items in the conversation (added, not deleted), for `conversation.item.delete`."""


class FakeRealtimeServer:
    """A GA-speaking Realtime server for tests; see the module docstring for an example.

    Args:
        api_key: if set, connections must carry it (Bearer or `api-key`), else error + close 3000.
        vad: emulate server VAD: audio appends start speech; `vad_turn_ms` of audio ends the
            turn (speech_stopped, committed, user item, then a response).
        pace_s: delay between the events of a response (0 still yields between events).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        vad: bool = False,
        vad_turn_ms: int = 300,
        pace_s: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.vad = vad
        self.vad_turn_ms = vad_turn_ms
        self.pace_s = pace_s
        self.connections: list[FakeConnection] = []
        self.received: list[Event] = []
        self.overlap_errors = 0
        """How many `response.create`s arrived while a response was active."""
        self.errors_sent: list[Event] = []
        self._scripted: list[ScriptedResponse] = []
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeRealtimeServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            max_size=None,
            compression=None,
            logger=RedactingLogger(logging.getLogger("realtime_agents.testing.fake_server")),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None, "use `async with FakeRealtimeServer()`"
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:<port>/v1/realtime?model=gpt-realtime`."""
        return f"ws://127.0.0.1:{self.port}/v1/realtime?model=gpt-realtime"

    @property
    def connection(self) -> FakeConnection:
        """The latest connection."""
        return self.connections[-1]

    @property
    def headers(self) -> dict[str, str]:
        """Request headers of the latest connection (names lower-cased)."""
        return self.connection.headers

    # ------------------------------------------------------------------ scripting

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue responses for the next `response.create`s (default: `text_response("ok")`)."""
        self._scripted.extend(responses)

    def received_types(self) -> list[str]:
        """Types of every client event received, across connections, in order."""
        return [str(e.get("type")) for e in self.received]

    async def wait_for(
        self,
        event_type: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Event:
        """Wait until `count` client events of this type arrived; returns the last one."""

        def found() -> list[Event]:
            return [e for e in self.received if e.get("type") == event_type]

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count)
        return found()[count - 1]

    async def wait_for_connections(
        self,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until `count` connections were made."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.connections) >= count)

    async def send(self, event: Event | str | bytes) -> None:
        """Send an event (a dict is JSON-encoded; str/bytes go as-is as a text frame)."""
        data = json.dumps(event) if isinstance(event, dict) else event
        await self.connection.ws.send(data, text=True)

    async def close_connection(self, code: int = 1006, reason: str = "") -> None:
        """Close the latest connection with this code (1006: drop TCP without a close frame)."""
        await self._close(self.connection, code, reason)

    async def stall(self, seconds: float) -> None:
        """Stop reading the latest connection for a while: pings go unanswered."""
        transport = transport_of(self.connection.ws)
        transport.pause_reading()
        await asyncio.sleep(seconds)
        transport.resume_reading()

    async def speech_started(self, audio_start_ms: int = 0) -> str:
        """Server VAD heard speech: send speech_started and cancel an active response."""
        conn = self.connection
        item_id = self._id("item")
        await self._send(
            conn,
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": item_id,
            },
        )
        if conn.active_response is not None:
            conn.cancel_requested.set()
        return item_id

    # ------------------------------------------------------------------ internals

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _send(self, conn: FakeConnection, event: Event) -> None:
        event.setdefault("event_id", self._id("event"))
        if event["type"] == "error":
            self.errors_sent.append(event)
        elif event["type"] == "conversation.item.added":
            conn.item_ids.add(event["item"]["id"])
        await conn.ws.send(json.dumps(event))

    async def _error(
        self, conn: FakeConnection, code: str, message: str, client_event_id: Any = None
    ) -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": None,
            "event_id": client_event_id,
        }
        await self._send(conn, {"type": "error", "error": error})

    async def _close(self, conn: FakeConnection, code: int, reason: str = "") -> None:
        if code == 1006:
            transport_of(conn.ws).abort()
        elif code == 1005:  # an empty close frame: the client sees "no status code"
            await close_without_status(conn.ws)
        else:
            await conn.ws.close(code, reason)

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = {k.lower(): v for k, v in request.headers.raw_items()} if request else {}
        conn = FakeConnection(ws=ws, headers=headers, path=request.path if request else "")
        self.connections.append(conn)
        await self._notify()
        if self.api_key is not None:
            given = headers.get("authorization", "").removeprefix("Bearer ") or headers.get(
                "api-key"
            )
            if given != self.api_key:
                await self._error(conn, "invalid_api_key", "fake server: wrong API key")
                await ws.close(3000, "invalid_request_error.invalid_api_key")
                return
        conn.session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self._id("sess"),
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": {
                        "type": "server_vad",
                        "interrupt_response": True,
                        "create_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
            },
        }
        await self._send(conn, {"type": "session.created", "session": conn.session})
        try:
            async for message in ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    await self._error(conn, "invalid_json", "fake server: the frame is not JSON")
                    continue
                conn.received.append(event)
                self.received.append(event)
                await self._notify()
                await self._dispatch(conn, event)
        except ConnectionClosed:
            pass

    async def _dispatch(self, conn: FakeConnection, event: Event) -> None:
        kind = event.get("type")
        client_id = event.get("event_id")
        if kind == "session.update":
            session = event.get("session") or {}
            if session.get("type") != "realtime":
                await self._error(
                    conn,
                    "missing_required_parameter",
                    "fake server: session.type must be 'realtime'",
                    client_id,
                )
                return
            conn.session.update(session)
            await self._send(conn, {"type": "session.updated", "session": conn.session})
        elif kind == "conversation.item.create":
            item = dict(event.get("item") or {})
            item.setdefault("id", self._id("item"))
            await self._add_item(conn, item)
        elif kind == "input_audio_buffer.append":
            size = len(base64.b64decode(event.get("audio", "")))
            started = conn.input_buffer_bytes == 0
            conn.input_buffer_bytes += size
            conn.input_audio_total += size
            if self.vad and started:
                await self._send(
                    conn,
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": (conn.input_audio_total - size) // 48,
                        "item_id": self._id("item"),
                    },
                )
            if self.vad and conn.input_buffer_bytes >= self.vad_turn_ms * 48:
                await self._send(
                    conn,
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": conn.input_audio_total // 48,
                        "item_id": "",
                    },
                )
                await self._commit(conn)
                await self._start_response(conn, None)
        elif kind == "input_audio_buffer.commit":
            if conn.input_buffer_bytes < 100 * 48:
                await self._error(
                    conn,
                    "input_audio_buffer_commit_empty",
                    "fake server: under 100 ms buffered",
                    client_id,
                )
            else:
                await self._commit(conn)
        elif kind == "input_audio_buffer.clear":
            conn.input_buffer_bytes = 0
            await self._send(conn, {"type": "input_audio_buffer.cleared"})
        elif kind == "response.create":
            if conn.active_response is not None:
                self.overlap_errors += 1
                await self._error(
                    conn,
                    "conversation_already_has_active_response",
                    f"fake server: {conn.active_response} is still active",
                    client_id,
                )
                return
            await self._start_response(conn, client_id)
        elif kind == "response.cancel":
            if conn.active_response is None:
                await self._error(
                    conn,
                    "response_cancel_not_active",
                    "fake server: no active response",
                    client_id,
                )
            else:
                conn.cancel_requested.set()
        elif kind == "conversation.item.delete":
            item_id = event.get("item_id")
            if item_id not in conn.item_ids:
                await self._error(
                    conn,
                    "item_delete_invalid_item_id",
                    f"fake server: no item {item_id}",
                    client_id,
                )
            else:
                conn.item_ids.discard(str(item_id))
                await self._send(conn, {"type": "conversation.item.deleted", "item_id": item_id})
        elif kind == "conversation.item.truncate":
            item_id, end_ms = event.get("item_id"), event.get("audio_end_ms", 0)
            length_ms = conn.audio_bytes.get(str(item_id), 0) / 48
            if item_id not in conn.audio_bytes:
                await self._error(
                    conn,
                    "item_truncate_invalid_item_id",
                    f"fake server: no item {item_id}",
                    client_id,
                )
            elif end_ms > length_ms:
                await self._error(
                    conn,
                    "invalid_value",
                    f"fake server: the audio is {length_ms} ms, not {end_ms} ms",
                    client_id,
                )
            else:
                await self._send(
                    conn,
                    {
                        "type": "conversation.item.truncated",
                        "item_id": item_id,
                        "content_index": 0,
                        "audio_end_ms": end_ms,
                    },
                )
        else:
            await self._error(
                conn, "invalid_value", f"fake server: unknown event type {kind!r}", client_id
            )

    async def _add_item(self, conn: FakeConnection, item: Event) -> None:
        previous, conn.last_item_id = conn.last_item_id, item["id"]
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self._send(conn, {"type": kind, "previous_item_id": previous, "item": item})

    async def _commit(self, conn: FakeConnection) -> None:
        conn.input_buffer_bytes = 0
        item_id = self._id("item")
        await self._send(
            conn,
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": conn.last_item_id,
                "item_id": item_id,
            },
        )
        await self._add_item(
            conn,
            {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        )

    async def _start_response(self, conn: FakeConnection, client_id: Any) -> None:
        response_id = self._id("resp")
        conn.active_response = response_id
        conn.cancel_requested = asyncio.Event()
        scripted = self._scripted.pop(0) if self._scripted else text_response("ok")
        task = asyncio.get_running_loop().create_task(self._stream(conn, response_id, scripted))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stream(
        self, conn: FakeConnection, response_id: str, scripted: ScriptedResponse
    ) -> None:
        response: Event = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "usage": None,
        }
        status: str = "completed"
        details: dict[str, str] | None = None
        try:
            await self._send(conn, {"type": "response.created", "response": response})
            events, audio_items, conn.last_item_id = response_events(
                response_id, scripted, self._id, conn.last_item_id
            )
            for item_id in audio_items:
                conn.audio_bytes[item_id] = 0
            for sent, event in enumerate(events):
                if scripted.close_after_events is not None and sent >= scripted.close_after_events:
                    conn.active_response = None
                    await self._close(conn, scripted.close_code, "")
                    return
                if conn.cancel_requested.is_set():
                    late = [e for e in events[sent:] if e["type"] == "response.output_audio.delta"]
                    for extra in late[: scripted.late_deltas_after_cancel]:
                        await self._send_counted(conn, dict(extra))
                    status, details = (
                        "cancelled",
                        {"type": "cancelled", "reason": "client_cancelled"},
                    )
                    break
                await self._send_counted(conn, dict(event))
                await asyncio.sleep(self.pace_s)
            conn.active_response = None
            usage = {"total_tokens": 3, "input_tokens": 1, "output_tokens": 2}
            done = {**response, "status": status, "status_details": details, "usage": usage}
            await self._send(conn, {"type": "response.done", "response": done})
        except ConnectionClosed:
            conn.active_response = None

    async def _send_counted(self, conn: FakeConnection, event: Event) -> None:
        if event["type"] == "response.output_audio.delta":
            item_id = event["item_id"]
            conn.audio_bytes[item_id] = conn.audio_bytes.get(item_id, 0) + len(
                base64.b64decode(event["delta"])
            )
        await self._send(conn, event)


def events_of(received: Iterable[Event], event_type: str) -> list[Event]:
    """The events of one type from a list of received events."""
    return [e for e in received if e.get("type") == event_type]
