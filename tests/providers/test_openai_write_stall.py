"""A server that sends pings and never reads (issue 14, item 5, the provider's part).

Before: every pong was queued in the provider's write buffer (30 -> 100 MB in 20 s), and the
keepalive, stuck behind the full buffer, never fired. Now the provider stops reading while
its writes are not read (TCP pushes back on the server) and drops the connection after
`write_timeout`, with an error that says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
from collections.abc import AsyncIterator

from provider_helpers import Collector

from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel

FLOOD_LIMIT = 64 * 1024 * 1024
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def text_frame(payload: bytes) -> bytes:
    assert len(payload) < 65536
    head = bytes([0x81, 126]) + len(payload).to_bytes(2, "big")
    return head + payload if len(payload) >= 126 else bytes([0x81, len(payload)]) + payload


class PingFloodServer:
    """Answers the upgrade and sends `session.created`, then writes full-size pings and reads
    nothing, until FLOOD_LIMIT or the connection drops; `pushed_back` is set when a write
    did not drain at once (the client stopped reading)."""

    def __init__(self) -> None:
        self.pushed_back = asyncio.Event()
        self.sent = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> PingFloodServer:
        listener = socket.socket()
        # A small receive buffer (inherited by accepted sockets): unread pongs back up soon.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self._server = await asyncio.start_server(self._handle, sock=listener)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.transport.abort()
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1/realtime"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        created = {"type": "session.created", "session": {"type": "realtime"}}
        writer.write(text_frame(json.dumps(created).encode()))
        batch = (bytes([0x89, 125]) + b"p" * 125) * 512
        while self.sent < FLOOD_LIMIT:
            writer.write(batch)
            self.sent += len(batch)
            try:
                try:
                    async with asyncio.timeout(0.2):
                        await writer.drain()
                except TimeoutError:
                    self.pushed_back.set()  # the client stopped reading
                    await writer.drain()  # until it reads again, or drops the connection
            except ConnectionError:
                return


@contextlib.asynccontextmanager
async def flooded_model(
    collector: Collector, write_timeout: float | None
) -> AsyncIterator[tuple[PingFloodServer, OpenAIRealtimeWebSocketModel]]:
    async with PingFloodServer() as server:
        model = OpenAIRealtimeWebSocketModel(
            {"write_timeout": write_timeout, "ping_interval": None, "close_timeout": 0.5}
        )
        model.add_listener(collector)
        await model.connect({"url": server.url, "api_key": "sk-test"})
        try:
            yield server, model
        finally:
            await asyncio.wait_for(model.close(), 10)


async def test_a_pinging_server_that_never_reads_is_pushed_back_then_dropped() -> None:
    collector = Collector()
    async with flooded_model(collector, 0.5) as (server, _):
        end = await collector.wait_for("end_of_stream")
        assert server.pushed_back.is_set()  # the provider stopped reading: TCP pushed back
        assert server.sent < FLOOD_LIMIT
    error = collector.of("error")[-1].error
    assert error.code == "connection_closed"
    assert "code 1011" in error.message
    assert "write stalled: the peer read nothing for 0.5 s" in error.message
    assert "write stalled" in (end.reason or "")
    assert not collector.of("exception")


async def test_without_write_timeout_the_server_is_held_back_and_close_still_returns() -> None:
    collector = Collector()
    async with flooded_model(collector, None) as (server, model):
        await asyncio.wait_for(server.pushed_back.wait(), 10)
        assert server.sent < FLOOD_LIMIT
        assert "end_of_stream" not in collector.types()  # held back, not dropped
        # The close frame cannot be written (the server reads nothing): close() gives up
        # after close_timeout instead of waiting on the blocked write forever.
        await asyncio.wait_for(model.close(), 10)
    assert collector.types()[-1] == "end_of_stream"
    assert not collector.of("exception")
