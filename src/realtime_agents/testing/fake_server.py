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
import json
import logging
from collections.abc import Iterable

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .._wsdirect import transport_of
from ..providers.openai.redact import RedactingLogger
from .fake_connection import FakeConnection, FakeServerState
from .fake_script import (
    Event,
    ScriptedResponse,
    Transform,
    audio_response,
    duplicate,
    function_call,
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
        self.shared = FakeServerState(vad=vad, vad_turn_ms=vad_turn_ms, pace_s=pace_s)
        self.connections: list[FakeConnection] = []
        self.received: list[Event] = []
        self._server: Server | None = None
        self._changed = asyncio.Condition()

    @property
    def overlap_errors(self) -> int:
        """How many `response.create`s arrived while a response was active."""
        return self.shared.overlap_errors

    @property
    def errors_sent(self) -> list[Event]:
        """Every `error` event sent, across connections."""
        return self.shared.errors_sent

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
        for task in list(self.shared.tasks):
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
        self.shared.scripted.extend(responses)

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
        await self.connection.close(code, reason)

    async def stall(self, seconds: float) -> None:
        """Stop reading the latest connection for a while: pings go unanswered."""
        transport = transport_of(self.connection.ws)
        transport.pause_reading()
        await asyncio.sleep(seconds)
        transport.resume_reading()

    async def speech_started(self, audio_start_ms: int = 0) -> str:
        """Server VAD heard speech: send speech_started and cancel an active response."""
        conn = self.connection
        item_id = self.shared.new_id("item")
        await conn.send(
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

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = {k.lower(): v for k, v in request.headers.raw_items()} if request else {}
        conn = FakeConnection(
            ws=ws, headers=headers, path=request.path if request else "", shared=self.shared
        )
        self.connections.append(conn)
        await self._notify()
        if self.api_key is not None:
            given = headers.get("authorization", "").removeprefix("Bearer ") or headers.get(
                "api-key"
            )
            if given != self.api_key:
                await conn.error("invalid_api_key", "fake server: wrong API key")
                await ws.close(3000, "invalid_request_error.invalid_api_key")
                return
        conn.session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.shared.new_id("sess"),
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
        await conn.send({"type": "session.created", "session": conn.session})
        try:
            async for message in ws:
                try:
                    event = json.loads(message)
                except ValueError:
                    await conn.error("invalid_json", "fake server: the frame is not JSON")
                    continue
                conn.received.append(event)
                self.received.append(event)
                await self._notify()
                await conn.dispatch(event)
        except ConnectionClosed:
            pass


def events_of(received: Iterable[Event], event_type: str) -> list[Event]:
    """The events of one type from a list of received events."""
    return [e for e in received if e.get("type") == event_type]
