"""A client that pings and never reads (issue 14, server 5): the server's write buffer stays
under `max_write_buffer_bytes` plus one socket read, it stops reading that client, and drops
it after `write_timeout`."""

from __future__ import annotations

import asyncio
import os
import socket

from server_helpers import EventRecorder, make_engines

from realtime_agents.server import ServerOptions, serve
from realtime_agents.server.flow_guard import READ_SIZE_BYTES

LIMIT = 256 * 1024
FLOOD_BYTES = 32 * 1024 * 1024


def masked_pings(count: int) -> bytes:
    """`count` client ping frames of 125 bytes each (the largest a control frame may carry)."""
    key = os.urandom(4)
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(b"p" * 125))
    return (bytes((0x89, 0x80 | 125)) + key + payload) * count


async def test_a_pinging_client_that_never_reads_is_bounded_then_dropped(
    recorder: EventRecorder,
) -> None:
    server = await serve(
        "127.0.0.1",
        0,
        make_engines(),
        ServerOptions(
            api_key="test-key",
            event_hook=recorder,
            max_write_buffer_bytes=LIMIT,
            write_timeout=1.0,
        ),
    )
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that takes nothing
    raw.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=raw)
        writer.write(
            b"GET /v1/realtime?model=local HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Authorization: Bearer test-key\r\n\r\n"
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        writer.transport.pause_reading()  # and never read again
        chunk = masked_pings(1000)
        sent, most, stalled = 0, 0, False
        while sent < FLOOD_BYTES:
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 0.5)
            except TimeoutError:
                stalled = True  # the server stopped reading us
                break
            except ConnectionError:
                break
            sent += len(chunk)
            most = max([most, *(usage.write_buffer_bytes for usage in server.usage())])
        for _ in range(20):
            most = max([most, *(usage.write_buffer_bytes for usage in server.usage())])
            await asyncio.sleep(0.05)
        assert stalled and sent < FLOOD_BYTES
        assert most <= LIMIT + READ_SIZE_BYTES + 64 * 1024, most
        for _ in range(300):  # disconnected after write_timeout (1 s)
            if not server.usage():
                break
            await asyncio.sleep(0.1)
        assert server.usage() == []
        writer.transport.abort()
    finally:
        raw.close()
        await server.close()
