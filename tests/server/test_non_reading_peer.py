"""A client that never reads (issue 14, server 5 and 8): whether it pings or sends items the
server echoes, what waits for it stays under `max_write_buffer_bytes` plus what one message
makes the server send, the server stops reading it, and drops it after `write_timeout`."""

from __future__ import annotations

import asyncio
import json
import os
import socket

from server_helpers import EventRecorder, make_engines
from socket_client import user_message
from websockets.utils import apply_mask

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.flow_guard import READ_SIZE_BYTES

LIMIT = 256 * 1024
FLOOD_BYTES = 32 * 1024 * 1024


def masked_text(payload: bytes) -> bytes:
    """One client text frame."""
    key = os.urandom(4)
    head = bytes((0x81, 0xFF)) + len(payload).to_bytes(8, "big")
    return head + key + apply_mask(payload, key)


async def raw_client(server: RealtimeServer) -> tuple[socket.socket, asyncio.StreamWriter]:
    """An upgraded connection from a socket with a tiny receive buffer, never read after the
    handshake."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
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
    return raw, writer


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
    raw, writer = await raw_client(server)  # a client that takes nothing
    try:
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


async def test_a_client_that_sends_items_and_never_reads_holds_one_echo_at_a_time(
    recorder: EventRecorder,
) -> None:
    """Each 1 MiB item comes back twice (`conversation.item.added` and `.done`); unread, those
    echoes wait in the transport for one message at a time, not in the event queue for 100."""
    server = await serve(
        "127.0.0.1",
        0,
        make_engines(),
        ServerOptions(api_key="test-key", event_hook=recorder, max_write_buffer_bytes=LIMIT),
    )
    raw, writer = await raw_client(server)
    text = "x" * (1024 * 1024)
    try:
        most_queued = most_buffered = sent = 0
        for index in range(100):
            create = user_message(text)
            create["item"]["id"] = f"item_{index}"
            delete = {"type": "conversation.item.delete", "item_id": f"item_{index}"}
            writer.write(masked_text(json.dumps(create).encode()))
            writer.write(masked_text(json.dumps(delete).encode()))
            try:
                await asyncio.wait_for(writer.drain(), 0.5)
            except TimeoutError:
                break  # the server stopped reading us
            sent += 1
            for usage in server.usage():
                most_queued = max(most_queued, usage.queued_events)
                most_buffered = max(most_buffered, usage.write_buffer_bytes)
        for _ in range(10):
            await asyncio.sleep(0.05)
            for usage in server.usage():
                most_queued = max(most_queued, usage.queued_events)
                most_buffered = max(most_buffered, usage.write_buffer_bytes)
        assert sent < 100
        assert most_queued <= 4, most_queued  # (was every echo of every item read: ~200)
        # One message's echoes (2 x 1 MiB + JSON) on top of the limit, never more.
        assert most_buffered <= LIMIT + 2 * (len(text) + 4096), most_buffered
        writer.transport.abort()
    finally:
        raw.close()
        await server.close()


async def test_tiny_messages_that_echo_a_big_item_queue_one_echo_at_a_time(
    recorder: EventRecorder,
) -> None:
    """A 60-byte `conversation.item.retrieve` echoes a whole item: 400 of them in one write
    leave at most about two echoes waiting for the client (were 257 echoes, 128 MiB, all
    queued within one socket read and then written to the transport)."""
    server = await serve(
        "127.0.0.1",
        0,
        make_engines(),
        ServerOptions(api_key="test-key", event_hook=recorder, max_write_buffer_bytes=LIMIT),
    )
    raw, writer = await raw_client(server)
    item = user_message("x" * (512 * 1024))
    item["item"]["id"] = "big"
    retrieve = masked_text(b'{"type": "conversation.item.retrieve", "item_id": "big"}')
    try:
        writer.write(masked_text(json.dumps(item).encode()) + retrieve * 400)
        most = 0
        for _ in range(40):
            await asyncio.sleep(0.05)
            for usage in server.usage():
                most = max(most, usage.write_buffer_bytes)
        # Each echo is 512 KiB: past the 256 KiB budget the server reads nothing more.
        echo = 512 * 1024 + 1024
        assert most <= LIMIT + 2 * echo, most  # (the kernel takes part of it)
        writer.transport.abort()
    finally:
        raw.close()
        await server.close()
