"""`_wsdirect`: frames split after the handshake, data frames to the sink, the rest to websockets.

Real loopback sockets throughout: a raw TCP peer writes hand-made frames in chosen chunkings
(see `wsdirect_helpers`), the connection under test is a real `websockets` connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import threading
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.utils import apply_mask

from realtime_agents._wsdirect import DirectClientConnection, DirectServerConnection, transport_of
from wsdirect_helpers import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    TIMEOUT,
    DirectServer,
    RawPeer,
    RawServer,
    RecordingClientConnection,
    Sink,
    bytewise,
    close_payload,
    closed,
    cut,
    encode,
    new_mask,
    open_attached,
    open_client,
    pieces,
    raw_client,
    ticks,
    tls_contexts,
    xor_mask,
)


def payload(size: int, seed: int = 0, *, text: bool = False) -> bytes:
    data = random.Random(seed).randbytes(size)
    if text:  # printable ASCII: valid UTF-8 however it is fragmented
        data = bytes(32 + b % 95 for b in data)
    return data


async def finish(ws: DirectClientConnection, peer: RawPeer) -> None:
    peer.close()
    await closed(ws)


# ------------------------------------------------------------------------------ client: data


async def test_client_fast_path_right_after_the_handshake() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server)
        try:
            assert ws.fast_path
        finally:
            await finish(ws, peer)


async def test_client_fast_path_once_frames_arrive() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server)
        assert ws.held == 0
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(encode(TEXT, b'{"type":"x"}') + encode(BINARY, b"\x00\xff\x01"))
        await peer.send(encode(TEXT, b""), encode(BINARY, b""))
        assert await sink.wait_for(4) == [
            (b'{"type":"x"}', True),
            (b"\x00\xff\x01", False),
            (b"", True),
            (b"", False),
        ]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_frames_in_the_same_write_as_the_101_are_held_until_attach() -> None:
    frames = encode(TEXT, b"first") + encode(BINARY, payload(300)) + encode(TEXT, b"third")
    async with RawServer() as server:
        ws, peer = await open_client(server, frames)
        assert ws.fast_path
        assert ws.held == 3
        assert not ws.transport.is_reading()
        sink = Sink()
        ws.attach(sink.has_room, sink)
        assert ws.held == 0
        assert ws.transport.is_reading()
        assert sink.messages == [(b"first", True), (payload(300), False), (b"third", True)]
        await peer.send(encode(TEXT, b"after"))
        assert (await sink.wait_for(4))[3] == (b"after", True)
        await finish(ws, peer)


async def test_client_handshake_and_frames_split_at_the_head_boundary() -> None:
    """The 101's blank line and the first frame header share and straddle writes."""
    second = encode(BINARY, payload(200))  # a 16-bit length: a 4-byte header
    frames = encode(TEXT, b"a" * 10) + second

    def split(stream: bytes) -> list[bytes]:
        blank_line = stream.index(b"\r\n\r\n")
        second_header = len(stream) - len(second)
        return cut(stream, [blank_line + 2, blank_line + 5, second_header + 1, second_header + 3])

    async with RawServer() as server:
        ws, peer = await open_client(server, frames, split=split)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        assert await sink.wait_for(2) == [(b"a" * 10, True), (payload(200), False)]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_every_byte_in_its_own_write() -> None:
    """Partial headers: 7-bit, 16-bit and 64-bit lengths, the 101 itself byte by byte."""
    messages = [
        (b"", True),
        (payload(125, 1), False),
        (payload(126, 2, text=True), True),
        (payload(1000, 3), False),
        (payload(65535, 4), False),
        (payload(65536, 5, text=True), True),
        (payload(70000, 6), False),
    ]
    frames = [encode(TEXT if t else BINARY, p) for p, t in messages]
    async with RawServer() as server:
        # The 101 and the first two frames byte by byte.
        ws, peer = await open_client(
            server, frames[0] + frames[1], split=bytewise, connection=RecordingClientConnection
        )
        sink = Sink()
        ws.attach(sink.has_room, sink)
        # Then every header byte alone, the payloads in 4 KiB pieces (each byte alone: slow).
        chunks: list[bytes] = []
        for frame, (data, _) in zip(frames[2:], messages[2:], strict=True):
            head = len(frame) - len(data)
            chunks += bytewise(frame[:head]) + pieces(frame[head:], 4096)
        await peer.send(*chunks)
        assert await sink.wait_for(len(messages)) == messages
        assert ws.fast_path
        assert isinstance(ws, RecordingClientConnection)
        reads = ws.reads
        assert reads.count(1) >= 100  # the stream really arrived in tiny reads
        await finish(ws, peer)


async def test_client_a_large_frame_in_many_chunks() -> None:
    big = payload(1_000_000, 7)
    stream = encode(TEXT, b"before") + encode(BINARY, big) + encode(TEXT, b"after")
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=2**21)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(*pieces(stream, 3001))  # chunk ends fall anywhere, headers included
        messages = await sink.wait_for(3)
        assert [len(p) for p, _ in messages] == [6, 1_000_000, 5]
        assert messages == [(b"before", True), (big, False), (b"after", True)]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_a_frame_of_exactly_max_size_is_delivered() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=1000)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(encode(BINARY, payload(1000)))
        assert await sink.wait_for(1) == [(payload(1000), False)]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_single_frame_reads_at_and_over_max_size() -> None:
    """A read holding exactly one frame with a 16-bit length takes a shortcut: the limit
    applies there too (at the limit: delivered; one byte over: 1009)."""
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=1000)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        for count, (size, is_text) in enumerate(((126, True), (1000, False), (999, True)), 1):
            await peer.send(encode(TEXT if is_text else BINARY, payload(size)))
            await sink.wait_for(count)
        assert sink.messages == [(payload(126), True), (payload(1000), False), (payload(999), True)]
        await peer.send(encode(BINARY, payload(1001)))
        await expect_client_failure(ws, peer, sink, 1009)
        assert len(sink.messages) == 3


async def test_client_without_max_size_takes_any_frame() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=None)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(*pieces(encode(BINARY, payload(3_000_000)), 65536))
        assert await sink.wait_for(1) == [(payload(3_000_000), False)]
        assert ws.fast_path
        await finish(ws, peer)


# ------------------------------------------------------------------------------ client: control


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
async def test_client_fragmented_message_with_a_ping_in_the_middle(opcode: int) -> None:
    stream = (
        encode(opcode, b"hel", fin=False)
        + encode(PING, b"p1")
        + encode(CONT, b"lo ", fin=False)
        + encode(CONT, b"", fin=False)
        + encode(CONT, b"world")
        + encode(TEXT, b"next")
    )
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(*cut(stream, [4, 9, 12, 20]))
        assert await sink.wait_for(2) == [(b"hello world", opcode == TEXT), (b"next", True)]
        pong = await peer.read_frame()
        assert (pong.opcode, pong.fin, pong.masked, pong.payload) == (PONG, True, True, b"p1")
        assert ws.fast_path  # pings and fragments go to websockets without leaving the fast path
        await finish(ws, peer)


async def test_client_answers_pings_in_order() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        pings = [b"", b"a", payload(125, 9)]
        await peer.send(
            b"".join(encode(PING, p) + encode(TEXT, b"m%d" % i) for i, p in enumerate(pings))
        )
        assert await sink.wait_for(3) == [(b"m0", True), (b"m1", True), (b"m2", True)]
        for p in pings:
            pong = await peer.read_frame()
            assert (pong.opcode, pong.masked, pong.payload) == (PONG, True, p)
        await finish(ws, peer)


async def test_client_unsolicited_pong_is_ignored() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(PONG, b"x") + encode(TEXT, b"ok"))
        assert await sink.wait_for(1) == [(b"ok", True)]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_close_from_the_server() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(
            encode(TEXT, b"before")
            + encode(CLOSE, close_payload(1000, "bye"))
            + encode(TEXT, b"after the close")
        )
        echo, before = await peer.read_until_close()
        assert before == []
        assert (echo.close_code, echo.close_reason, echo.masked) == (1000, "bye", True)
        assert not ws.fast_path
        await peer.send(encode(TEXT, b"in a later write"))
        await finish(ws, peer)
        assert (ws.close_code, ws.close_reason) == (1000, "bye")
        assert sink.messages == [(b"before", True)]


async def test_client_close_with_another_code() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(*bytewise(encode(CLOSE, close_payload(4000, "session expired"))))
        echo, _ = await peer.read_until_close()
        assert echo.close_code == 4000
        await finish(ws, peer)
        assert (ws.close_code, ws.close_reason) == (4000, "session expired")
        assert sink.messages == []


async def test_client_close_in_the_same_write_as_the_101() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(
            server, encode(TEXT, b"hi") + encode(CLOSE, close_payload(1000, "short"))
        )
        sink = Sink()
        ws.attach(sink.has_room, sink)
        assert sink.messages == [(b"hi", True)]
        echo, _ = await peer.read_until_close()
        assert (echo.close_code, echo.close_reason) == (1000, "short")
        await finish(ws, peer)
        assert (ws.close_code, ws.close_reason) == (1000, "short")


async def test_client_text_payload_is_not_utf8_validated() -> None:
    """Text payloads go to the sink as bytes, unchecked (plain websockets fails a connection
    with 1007 in recv() on invalid UTF-8; here decoding, and calling `fail(1007, ...)`, is
    the sink's job), on the fast path and for fragmented messages alike."""
    invalid = b"\xff\xfe not utf-8 \xc3"
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(
            encode(TEXT, invalid) + encode(TEXT, invalid[:3], fin=False) + encode(CONT, invalid[3:])
        )
        assert await sink.wait_for(2) == [(invalid, True), (invalid, True)]
        assert ws.fast_path
        await finish(ws, peer)


@pytest.mark.parametrize("held", [False, True])
async def test_client_sink_fails_the_connection_and_gets_nothing_after(held: bool) -> None:
    """A sink that finds a bad message calls `fail(1007, ...)`: the peer gets that close
    frame, no later message reaches the sink (in the same read, or held back by a full
    sink), and a peer that never closes the TCP connection is dropped after close_timeout."""
    async with RawServer() as server:
        ws, peer = await open_client(server, close_timeout=0.2)
        sink = Sink(room=0 if held else None)

        def failing_sink(data: bytes, is_text: bool) -> None:
            sink(data, is_text)
            ws.fail(1007, "invalid start byte at position 0")

        ws.attach(sink.has_room, failing_sink)
        await peer.send(encode(TEXT, b"\xff") + encode(TEXT, b"later") + encode(BINARY, b"x"))
        if held:
            async with asyncio.timeout(TIMEOUT):
                while ws.held < 3:  # noqa: ASYNC110 - polling a plain counter
                    await asyncio.sleep(0.01)
            sink.room = None
            ws.release()
        close = await peer.read_frame()
        assert (close.opcode, close.close_code) == (CLOSE, 1007)
        assert close.close_reason == "invalid start byte at position 0"
        assert ws.own_close() == (1007, "invalid start byte at position 0")
        await peer.send(encode(TEXT, b"after the failure"))
        await closed(ws)  # the peer never closes: the client drops TCP after close_timeout
        assert sink.messages == [(b"\xff", True)]
        assert ws.held == 0
        ws.fail(1002, "again")  # failing twice is harmless
        peer.close()


async def test_client_data_after_a_close_frame_in_a_later_write_is_ignored() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(CLOSE, close_payload(1001)))
        await peer.read_until_close()
        await peer.send(encode(TEXT, b"x"), encode(BINARY, b"y"), encode(PING, b"z"))
        await finish(ws, peer)
        assert sink.messages == []
        assert ws.close_code == 1001
        assert ws.own_close() is None  # the server closed first


# ------------------------------------------------------------------------------ client: errors


async def expect_client_failure(
    ws: DirectClientConnection, peer: RawPeer, sink: Sink, code: int
) -> None:
    """websockets failed the connection with `code`: the raw server gets that close frame."""
    close, _ = await peer.read_until_close()
    assert close.close_code == code
    assert close.masked
    assert not ws.fast_path
    own = ws.own_close()
    assert own is not None and own[0] == code
    await peer.send(encode(TEXT, b"ignored after the failure"))
    await finish(ws, peer)
    assert ws.close_code == 1006  # the client ignores what follows, the TCP close is abnormal
    assert (b"ignored after the failure", True) not in sink.messages


@pytest.mark.parametrize(
    ("max_size", "size"),
    [(100, 101), (100, 126), (1000, 65535), (65536, 65537), (65536, 70000)],
)
async def test_client_oversize_frame_closes_with_1009(max_size: int, size: int) -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=max_size)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(encode(TEXT, b"fits"), *pieces(encode(BINARY, payload(size)), 1000))
        await expect_client_failure(ws, peer, sink, 1009)
        assert sink.messages == [(b"fits", True)]


async def test_client_fragment_limit_from_a_max_size_tuple() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=(None, 100))
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(encode(BINARY, payload(100)) + encode(BINARY, payload(101)))
        await expect_client_failure(ws, peer, sink, 1009)
        assert sink.messages == [(payload(100), False)]


async def test_client_fragmented_message_over_max_size_closes_with_1009() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, max_size=100)
        sink = Sink()
        ws.attach(sink.has_room, sink)
        await peer.send(encode(TEXT, b"a" * 60, fin=False) + encode(CONT, b"b" * 60))
        await expect_client_failure(ws, peer, sink, 1009)
        assert sink.messages == []


async def test_client_masked_server_frame_is_a_protocol_error() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(TEXT, b"ok") + encode(TEXT, b"masked", mask=new_mask()))
        await expect_client_failure(ws, peer, sink, 1002)
        assert sink.messages == [(b"ok", True)]


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
async def test_client_rsv_bits_are_a_protocol_error(rsv: int) -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(TEXT, b"ok") + encode(TEXT, b"rsv", rsv=rsv) + encode(TEXT, b"x"))
        await expect_client_failure(ws, peer, sink, 1002)
        assert sink.messages == [(b"ok", True)]


@pytest.mark.parametrize(
    "bad",
    [
        encode(0x3, b"reserved data opcode"),
        encode(0xB, b"reserved control opcode"),
        encode(CONT, b"continuation without a start"),
        encode(TEXT, b"start", fin=False) + encode(TEXT, b"a new message mid-fragments"),
        encode(PING, b"not final", fin=False),
        encode(PING, payload(126)),
    ],
    ids=["opcode-3", "opcode-b", "cont-alone", "text-in-fragments", "ping-not-fin", "ping-126"],
)
async def test_client_invalid_frames_are_a_protocol_error(bad: bytes) -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(TEXT, b"ok") + bad + encode(TEXT, b"x"))
        await expect_client_failure(ws, peer, sink, 1002)
        assert sink.messages == [(b"ok", True)]


async def test_client_eof_in_the_middle_of_a_frame() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        await peer.send(encode(TEXT, b"whole") + encode(BINARY, payload(500))[:300])
        await sink.wait_for(1)
        await finish(ws, peer)
        assert ws.close_code == 1006
        assert sink.messages == [(b"whole", True)]


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: d3JvbmcgYWNjZXB0IGtleSE=\r\n\r\n",
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope",
    ],
    ids=["wrong-accept", "403"],
)
async def test_client_failed_handshake_with_frames_after_it(response: bytes) -> None:
    async with RawServer() as server:
        opening = connect(server.url, create_connection=DirectClientConnection, compression=None)

        async def open_() -> object:
            return await opening

        task = asyncio.create_task(open_())
        peer = await server.accept()
        await peer.send(response + encode(TEXT, b"must not be taken for a message"))
        with pytest.raises(InvalidHandshake):
            async with asyncio.timeout(TIMEOUT):
                await task
        peer.close()


async def test_client_connections_sharing_the_loop_keep_their_own_bytes() -> None:
    """The read buffer is shared per thread: interleaved reads of several connections."""
    count = 5
    async with RawServer() as server:
        pairs = [await open_client(server, max_size=2**21) for _ in range(count)]
        sinks = [Sink() for _ in range(count)]
        for (ws, _), sink in zip(pairs, sinks, strict=True):
            ws.attach(sink.has_room, sink)
        streams = [
            [
                encode(BINARY, payload(200_000, 100 + i)) + encode(TEXT, b"small %d" % i),
                encode(TEXT, payload(70_000, 200 + i, text=True)),
            ]
            for i in range(count)
        ]
        chunked = [pieces(b"".join(stream), 1000 + 37 * i) for i, stream in enumerate(streams)]
        for step in range(max(len(c) for c in chunked)):  # round-robin over the connections
            for (_, peer), chunks in zip(pairs, chunked, strict=True):
                if step < len(chunks):
                    peer.writer.write(chunks[step])
            await ticks(1)
        for i, sink in enumerate(sinks):
            assert await sink.wait_for(3) == [
                (payload(200_000, 100 + i), False),
                (b"small %d" % i, True),
                (payload(70_000, 200 + i, text=True), True),
            ]
        for ws, peer in pairs:
            assert ws.fast_path
            await finish(ws, peer)


def test_client_connections_in_two_threads() -> None:
    """Each thread with its own event loop (and read buffer) gets its own messages."""
    results: dict[int, list[tuple[bytes, bool]]] = {}
    errors: list[BaseException] = []

    async def run(index: int) -> None:
        async with RawServer() as server:
            ws, peer, sink = await open_attached(server)
            for n in range(20):
                await peer.send(*pieces(encode(BINARY, payload(5000 + n, index * 100 + n)), 333))
            results[index] = list(await sink.wait_for(20))
            await finish(ws, peer)

    def thread(index: int) -> None:
        try:
            asyncio.run(run(index))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    assert not errors, errors
    for index in range(2):
        assert results[index] == [(payload(5000 + n, index * 100 + n), False) for n in range(20)]


async def test_client_ping_is_answered_by_a_pong_in_a_data_write() -> None:
    async with RawServer() as server:
        ws, peer, sink = await open_attached(server)
        pong_waiter = await ws.ping(b"client ping")
        ping = await peer.read_frame()
        assert (ping.opcode, ping.masked, ping.payload) == (PING, True, b"client ping")
        await peer.send(
            encode(TEXT, b"a") + encode(PONG, ping.payload)[:1],
            encode(PONG, ping.payload)[1:] + encode(TEXT, b"b"),
        )
        async with asyncio.timeout(TIMEOUT):
            await pong_waiter
        assert await sink.wait_for(2) == [(b"a", True), (b"b", True)]
        assert ws.fast_path
        await finish(ws, peer)


async def test_client_over_tls() -> None:
    """wss (the OpenAI case): asyncio's TLS layer feeds the buffered protocol; back-pressure
    pauses and resumes it without losing or reordering messages."""
    pytest.importorskip("cryptography")
    server_tls, client_tls = tls_contexts()
    sizes = (0, 1, 125, 126, 65536, 300_000, 5) * 3
    expected = [(payload(n, i, text=i % 2 == 1), i % 2 == 1) for i, n in enumerate(sizes)]
    go = asyncio.Event()

    async def handler(conn: ServerConnection) -> None:
        await go.wait()
        for data, is_text in expected:
            await conn.send(data.decode() if is_text else data)
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ssl=server_tls, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(
            f"wss://127.0.0.1:{port}/",
            ssl=client_tls,
            create_connection=DirectClientConnection,
            compression=None,
            ping_interval=None,
        ) as ws:
            assert isinstance(ws, DirectClientConnection)
            sink = Sink(room=2)
            ws.attach(sink.has_room, sink)
            go.set()
            await sink.wait_for(2)
            await ticks(10)
            assert len(sink.messages) == 2 and ws.held >= 1
            assert not ws.transport.is_reading()
            async with asyncio.timeout(TIMEOUT):
                while len(sink.messages) < len(expected):
                    sink.room = 3
                    ws.release()
                    await ticks(3)
            assert sink.messages == expected
            assert ws.fast_path
        assert ws.close_code == 1000


# ------------------------------------------------------------------------------ client: compression


async def test_client_with_compression_leaves_everything_to_websockets() -> None:
    sent: list[str | bytes] = ["text " * 1000, payload(50_000, 3), "small", b""]

    async def handler(conn: ServerConnection) -> None:
        for message in sent:
            await conn.send(message)
        await conn.send(["frag", "mented"])
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}/",
            create_connection=DirectClientConnection,
            compression="deflate",
            ping_interval=None,
        ) as ws:
            assert isinstance(ws, DirectClientConnection)
            assert ws.protocol.extensions  # permessage-deflate negotiated
            sink = Sink()
            ws.attach(sink.has_room, sink)
            messages = await sink.wait_for(5)
            assert not ws.fast_path
            assert messages == [
                (("text " * 1000).encode(), True),
                (payload(50_000, 3), False),
                (b"small", True),
                (b"", False),
                (b"fragmented", True),
            ]
        assert ws.close_code == 1000


async def test_client_against_a_real_websockets_server_without_compression() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.send("hello")
        await conn.send(payload(200_000, 4))
        await conn.send(["a", "b", "c"])
        await conn.ping(b"keepalive")
        await conn.send(await conn.recv())
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}/",
            create_connection=DirectClientConnection,
            compression="deflate",  # offered, declined by the server
            ping_interval=None,
        ) as ws:
            assert isinstance(ws, DirectClientConnection)
            assert not ws.protocol.extensions
            sink = Sink()
            ws.attach(sink.has_room, sink)
            await sink.wait_for(3)
            async with asyncio.timeout(TIMEOUT):
                await (await ws.ping(b"from the client"))
            await ws.send("echo me")
            messages = await sink.wait_for(4)
            assert messages == [
                (b"hello", True),
                (payload(200_000, 4), False),
                (b"abc", True),
                (b"echo me", True),
            ]
            assert ws.fast_path
        assert ws.close_code == 1000


# ------------------------------------------------------------------------------ server side


def masked(opcode: int, data: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    return encode(opcode, data, fin=fin, rsv=rsv, mask=new_mask())


SERVER_MESSAGES = [
    (b"", True),
    (b"", False),
    (b'{"type":"input_audio_buffer.append"}', True),
    (payload(125, 1), False),
    (payload(126, 2, text=True), True),
    (payload(65535, 3), False),
    (payload(65536, 4, text=True), True),
    (payload(70000, 5), False),
]


@pytest.mark.parametrize("chunking", ["one-write", "bytewise-headers", "pieces-777"])
async def test_server_masked_messages_arrive_unmasked(chunking: str) -> None:
    stream = b"".join(masked(TEXT if t else BINARY, p) for p, t in SERVER_MESSAGES)
    if chunking == "one-write":
        chunks = [stream]
    elif chunking == "pieces-777":
        chunks = pieces(stream, 777)
    else:  # every byte of the first 300 (small frames, headers, masks) alone, then pieces
        chunks = bytewise(stream[:300]) + pieces(stream[300:], 5000)
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(*chunks)
        assert await sink.wait_for(len(SERVER_MESSAGES)) == SERVER_MESSAGES
        assert ws.fast_path


async def test_server_upgrade_request_byte_by_byte() -> None:
    async with DirectServer() as server, raw_client(server.port, split=bytewise) as client:
        ws, sink = await server.connection()
        await client.send(masked(TEXT, b"one") + masked(BINARY, b"two"))
        assert await sink.wait_for(2) == [(b"one", True), (b"two", False)]
        assert ws.fast_path


async def test_server_unmasked_client_frame_is_a_protocol_error() -> None:
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(masked(TEXT, b"ok") + encode(TEXT, b"unmasked") + masked(TEXT, b"x"))
        close, before = await client.read_until_close()
        assert (close.close_code, close.masked) == (1002, False)
        assert before == []
        assert await client.at_eof()  # the server closes the TCP connection
        client.close()
        await closed(ws)
        assert not ws.fast_path
        assert sink.messages == [(b"ok", True)]


async def test_server_ping_gets_a_pong() -> None:
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(masked(PING, b"are you there") + masked(TEXT, b"msg"), masked(PING))
        assert await sink.wait_for(1) == [(b"msg", True)]
        for expected in (b"are you there", b""):
            pong = await client.read_frame()
            assert (pong.opcode, pong.fin, pong.masked, pong.payload) == (
                PONG,
                True,
                False,
                expected,
            )
        assert ws.fast_path


async def test_server_fragmented_message_is_assembled() -> None:
    stream = (
        masked(BINARY, b"\x00\x01", fin=False)
        + masked(CONT, payload(70000, 8), fin=False)
        + masked(PING, b"mid")
        + masked(CONT, b"\xff")
        + masked(TEXT, b"after")
    )
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(*pieces(stream, 1500))
        assert await sink.wait_for(2) == [
            (b"\x00\x01" + payload(70000, 8) + b"\xff", False),
            (b"after", True),
        ]
        pong = await client.read_frame()
        assert (pong.opcode, pong.payload) == (PONG, b"mid")
        assert ws.fast_path


async def test_server_single_frame_reads_at_and_over_max_size() -> None:
    """The one-frame-per-read shortcut on the server side: unmasked with the right key, the
    limit applied (at the limit: delivered; one byte over: 1009)."""
    async with DirectServer(max_size=1000) as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        expected: list[tuple[bytes, bool]] = []
        for size, is_text in ((126, True), (1000, False), (500, True)):
            await client.send(masked(TEXT if is_text else BINARY, payload(size, seed=size)))
            expected.append((payload(size, seed=size), is_text))
            assert await sink.wait_for(len(expected)) == expected
        await client.send(masked(TEXT, payload(1001)))
        close, _ = await client.read_until_close()
        assert close.close_code == 1009
        assert sink.messages == expected
        client.close()
        await closed(ws)


@pytest.mark.parametrize("size", [1001, 70000])
async def test_server_oversize_frame_closes_with_1009(size: int) -> None:
    async with DirectServer(max_size=1000) as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(masked(TEXT, b"fits"), masked(BINARY, payload(size)))
        close, _ = await client.read_until_close()
        assert close.close_code == 1009
        assert await client.at_eof()
        client.close()
        await closed(ws)
        assert not ws.fast_path
        assert sink.messages == [(b"fits", True)]


async def test_server_rsv_bit_is_a_protocol_error() -> None:
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(masked(TEXT, b"ok") + masked(TEXT, b"rsv1", rsv=4))
        close, _ = await client.read_until_close()
        assert close.close_code == 1002
        assert await client.at_eof()
        client.close()
        await closed(ws)
        assert sink.messages == [(b"ok", True)]


async def test_server_close_from_the_client() -> None:
    async with DirectServer() as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(
            masked(TEXT, b"last") + masked(CLOSE, close_payload(1000, "done")) + masked(TEXT, b"no")
        )
        echo, _ = await client.read_until_close()
        assert (echo.close_code, echo.close_reason, echo.masked) == (1000, "done", False)
        assert await client.at_eof()
        client.close()
        await closed(ws)
        assert (ws.close_code, ws.close_reason) == (1000, "done")
        assert sink.messages == [(b"last", True)]


@pytest.mark.parametrize("writes", ["same-write", "next-write"])
async def test_server_frames_pipelined_with_the_upgrade_request(writes: str) -> None:
    """A client that does not wait for the 101: websockets parses those frames (the fast path
    is not taken for this connection when they share the request's read), and nothing is lost
    or reordered."""
    early = masked(TEXT, b"early 1") + masked(BINARY, payload(1000, 6)) + masked(TEXT, b"early 3")

    def split(stream: bytes) -> list[bytes]:
        return cut(stream, [len(stream) - len(early)])

    options = {"split": split} if writes == "next-write" else {}
    async with DirectServer() as server, raw_client(server.port, early, **options) as client:
        ws, sink = await server.connection()
        await client.send(masked(TEXT, b"after the 101"))
        assert await sink.wait_for(4) == [
            (b"early 1", True),
            (payload(1000, 6), False),
            (b"early 3", True),
            (b"after the 101", True),
        ]
        if writes == "same-write":
            assert not ws.fast_path


async def test_server_with_a_websockets_client() -> None:
    big = payload(300_000, 11)
    async with DirectServer() as server:
        async with connect(server.url, ping_interval=None) as client:
            ws, sink = await server.connection()
            assert not ws.protocol.extensions  # the client offers deflate; the server declines
            await client.send("hello")
            await client.send(big)
            await client.send(["frag", "ments"])
            await client.send(b"")
            async with asyncio.timeout(TIMEOUT):
                await (await client.ping(b"p"))
            assert await sink.wait_for(4) == [
                (b"hello", True),
                (big, False),
                (b"fragments", True),
                (b"", False),
            ]
            assert ws.fast_path
            await ws.send("from the server")
            async with asyncio.timeout(TIMEOUT):
                assert await client.recv() == "from the server"
        await closed(ws)
        assert ws.close_code == 1000


async def test_server_with_compression_leaves_everything_to_websockets() -> None:
    async with (
        DirectServer(compression="deflate") as server,
        connect(server.url, ping_interval=None, compression="deflate") as client,
    ):
        ws, sink = await server.connection()
        assert ws.protocol.extensions
        await client.send("z" * 10000)
        await client.send(payload(20000, 2))
        await client.send(["a", "b"])
        assert await sink.wait_for(3) == [
            (b"z" * 10000, True),
            (payload(20000, 2), False),
            (b"ab", True),
        ]
        assert not ws.fast_path


# ------------------------------------------------------------------------------ back-pressure


async def test_back_pressure_holds_messages_and_pauses_reading() -> None:
    first = [b"m%d" % i for i in range(6)]
    later = [b"n%d" % i for i in range(4)]
    async with RawServer() as server:
        ws, peer = await open_client(server)
        sink = Sink(room=2)
        ws.attach(sink.has_room, sink)
        await peer.send(b"".join(encode(TEXT, m) for m in first))
        assert [m for m, _ in sink.messages] == first[:2]
        assert ws.held == 4
        assert not ws.transport.is_reading()
        # Sent while reading is paused: not read, so not held either.
        await peer.send(b"".join(encode(TEXT, m) for m in later))
        await ticks(10)
        assert ws.held == 4 and len(sink.messages) == 2

        sink.room = 3
        ws.release()  # room for three: one is still held, reading stays paused
        assert [m for m, _ in sink.messages] == first[:5]
        assert ws.held == 1
        assert not ws.transport.is_reading()
        ws.release()  # no room: nothing changes
        assert ws.held == 1

        sink.room = None
        ws.release()
        assert ws.held == 0
        assert ws.transport.is_reading()
        messages = await sink.wait_for(10)
        assert [m for m, _ in messages] == first + later
        await finish(ws, peer)


# ------------------------------------------------------------------ write back-pressure

FLOOD_LIMIT = 48 * 1024 * 1024
WRITE_BOUND = 1536 * 1024  # high-water mark (32 KiB) + the pongs of one 256 KiB read


def small_send_buffer(server: RawServer) -> socket.socket:
    """A client socket connected to `server` whose kernel send buffer is small, so that its
    unread pongs reach the transport's write buffer after a few KiB, not a few MiB."""
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def flood_pings(peer: RawPeer) -> int:
    """Write full-size pings and read nothing, until the client stops reading (a write that
    does not drain within a second) or FLOOD_LIMIT bytes; returns the bytes written."""
    batch = encode(PING, b"p" * 125) * 512
    sent = 0
    while sent < FLOOD_LIMIT:
        peer.writer.write(batch)
        sent += len(batch)
        try:
            async with asyncio.timeout(1.0):
                await peer.writer.drain()
        except (TimeoutError, ConnectionError):
            break
    return sent


async def watch_write_buffer(ws: DirectClientConnection, peak: list[int]) -> None:
    transport = transport_of(ws)
    while not transport.is_closing():
        peak[0] = max(peak[0], transport.get_write_buffer_size())
        await asyncio.sleep(0.002)


async def test_a_peer_that_pings_and_never_reads_is_pushed_back_then_read_again() -> None:
    """Without the write-side back-pressure every pong was queued: the client's write buffer
    grew with the flood (tens of MiB here, without bound in general)."""
    async with RawServer() as server:
        ws, peer = await open_client(server, sock=small_send_buffer(server))
        sink = Sink()
        ws.attach(sink.has_room, sink)
        peak = [0]
        watcher = asyncio.create_task(watch_write_buffer(ws, peak))
        sent = await flood_pings(peer)
        assert sent < FLOOD_LIMIT  # TCP pushed back on the peer: the client stopped reading
        assert not ws.transport.is_reading()
        assert 0 < peak[0] <= WRITE_BOUND

        async def read_everything() -> None:
            with contextlib.suppress(Exception):
                while await peer.reader.read(65536):
                    pass

        reader = asyncio.create_task(read_everything())
        await peer.send(encode(TEXT, b"after the flood"))
        assert await sink.wait_for(1) == [(b"after the flood", True)]
        assert ws.own_close() is None
        watcher.cancel()
        await finish(ws, peer)
        reader.cancel()


async def test_a_write_buffer_stalled_past_stall_timeout_fails_the_connection() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server, sock=small_send_buffer(server))
        ws.stall_timeout = 0.3
        sink = Sink()
        ws.attach(sink.has_room, sink)
        peak = [0]
        watcher = asyncio.create_task(watch_write_buffer(ws, peak))
        await flood_pings(peer)
        await closed(ws)
        own = ws.own_close()
        assert own is not None and own[0] == 1011
        assert own[1].startswith("write stalled: the peer read nothing for 0.3 s (")
        assert 0 < peak[0] <= WRITE_BOUND
        await watcher
        peer.close()


async def test_a_peer_that_reads_slowly_is_not_stalled() -> None:
    """The stall timeout counts time without progress, not time over the high-water mark: a
    large send to a slow reader takes several stall timeouts and completes."""
    big = b"a" * (1024 * 1024)
    async with RawServer() as server:
        ws, peer = await open_client(server, sock=small_send_buffer(server))
        ws.stall_timeout = 0.2
        sink = Sink()
        ws.attach(sink.has_room, sink)
        received = bytearray()

        async def read_slowly() -> None:
            while len(received) < len(big):
                chunk = await peer.reader.read(16384)
                if not chunk:
                    return
                received.extend(chunk)
                await asyncio.sleep(0.01)

        reader = asyncio.create_task(read_slowly())
        async with asyncio.timeout(TIMEOUT):
            await ws.send_texts([big])
            await reader
        assert ws.own_close() is None
        assert len(received) >= len(big)
        await finish(ws, peer)


async def test_back_pressure_keeps_order_with_fragmented_messages() -> None:
    """A fragmented message (assembled via websockets) held behind fast-path messages."""
    stream = (
        encode(TEXT, b"1")
        + encode(TEXT, b"2")
        + encode(TEXT, b"3", fin=False)
        + encode(CONT, b"3")
        + encode(BINARY, b"4")
    )
    async with RawServer() as server:
        ws, peer = await open_client(server)
        sink = Sink(room=1)
        ws.attach(sink.has_room, sink)
        await peer.send(stream)
        assert ws.held == 3
        sink.room = None
        ws.release()
        assert sink.messages == [(b"1", True), (b"2", True), (b"33", True), (b"4", False)]
        await finish(ws, peer)


async def test_back_pressure_has_room_flapping_does_not_reorder() -> None:
    """Once a message is held, later ones queue behind it even if has_room() says yes again
    before release() (a consumer that frees room from elsewhere)."""
    answers = iter([True, False] + [True] * 100)
    got: list[bytes] = []

    def has_room() -> bool:
        return next(answers)

    def sink(data: bytes, is_text: bool) -> None:
        got.append(data)

    async with RawServer() as server:
        ws, peer = await open_client(server)
        ws.attach(has_room, sink)
        await peer.send(b"".join(encode(TEXT, b"%d" % i) for i in range(5)))
        assert got == [b"0"]
        assert ws.held == 4
        ws.release()
        assert got == [b"%d" % i for i in range(5)]
        await finish(ws, peer)


async def test_wait_released_returns_once_the_held_messages_are_taken() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server)
        sink = Sink(room=0)
        ws.attach(sink.has_room, sink)
        await peer.send(encode(TEXT, b"a") + encode(TEXT, b"b"))
        assert ws.held == 2
        waiting = asyncio.create_task(ws.wait_released())
        await ticks(5)
        assert not waiting.done()
        sink.room = 1
        ws.release()
        await ticks(5)
        assert not waiting.done() and ws.held == 1
        sink.room = None
        ws.release()
        async with asyncio.timeout(TIMEOUT):
            await waiting
        assert sink.messages == [(b"a", True), (b"b", True)]
        await finish(ws, peer)


async def test_held_messages_survive_the_close() -> None:
    """Messages held when the connection closes are still handed over by release()."""
    async with DirectServer(room=0) as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(
            masked(TEXT, b"a") + masked(BINARY, b"b") + masked(CLOSE, close_payload(1000))
        )
        echo, _ = await client.read_until_close()
        assert echo.close_code == 1000
        assert await client.at_eof()
        client.close()
        assert ws.held == 2
        # Reading is paused, so the server sees the TCP close only once it reads again.
        sink.room = None
        ws.release()
        async with asyncio.timeout(TIMEOUT):
            await ws.wait_released()
        await closed(ws)
        assert ws.close_code == 1000
        assert sink.messages == [(b"a", True), (b"b", False)]


async def test_server_side_back_pressure() -> None:
    messages = [(payload(n, n, text=n % 2 == 0), n % 2 == 0) for n in (10, 200, 3000, 70000, 5)]
    async with DirectServer(room=1) as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        await client.send(b"".join(masked(TEXT if t else BINARY, p) for p, t in messages))
        await ticks(5)
        assert len(sink.messages) == 1
        assert ws.held >= 1
        async with asyncio.timeout(TIMEOUT):
            while len(sink.messages) < len(messages):
                sink.room = 1
                ws.release()
                await ticks(5)
        assert sink.messages == messages
        assert ws.held == 0


async def test_discard_drops_held_and_later_messages_and_sees_the_close() -> None:
    async with RawServer() as server:
        ws, peer = await open_client(server)
        sink = Sink(room=0)
        ws.attach(sink.has_room, sink)
        await peer.send(encode(TEXT, b"a") + encode(TEXT, b"b"))
        assert ws.held == 2
        ws.discard()
        assert ws.held == 0
        assert ws.transport.is_reading()
        await peer.send(encode(TEXT, b"c"), encode(CLOSE, close_payload(1000)))
        echo, _ = await peer.read_until_close()
        assert echo.close_code == 1000
        await finish(ws, peer)
        assert ws.close_code == 1000
        assert sink.messages == []


# ------------------------------------------------------------------------------ properties


@dataclass
class Message:
    data: bytes
    is_text: bool
    cuts: list[int] = field(default_factory=list)  # fragment boundaries (empty: one frame)
    ping: bytes | None = None  # a ping after the first frame of the message

    def frames(self, rng: random.Random | None) -> list[bytes]:
        def mask() -> bytes | None:
            return None if rng is None else rng.randbytes(4)

        opcode = TEXT if self.is_text else BINARY
        if not self.cuts:
            frames = [encode(opcode, self.data, mask=mask())]
        else:
            bounds = [0, *sorted(min(c, len(self.data)) for c in self.cuts), len(self.data)]
            parts = [self.data[a:b] for a, b in itertools.pairwise(bounds)]
            frames = [
                encode(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1, mask=mask())
                for i, part in enumerate(parts)
            ]
        if self.ping is not None:
            frames.insert(1, encode(PING, self.ping, mask=mask()))
        return frames


SIZES = st.one_of(
    st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]),
    st.integers(0, 125),
    st.integers(126, 65535),
    st.integers(65536, 70000),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    is_text = draw(st.booleans())
    data = payload(draw(SIZES), draw(st.integers(0, 2**32 - 1)), text=is_text)
    cuts = draw(st.one_of(st.just([]), st.lists(st.integers(0, 70000), min_size=1, max_size=3)))
    ping = draw(st.none() | st.binary(max_size=125))
    return Message(data, is_text, cuts, ping)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Message], list[int], int | None]:
    """Messages, where to cut the frame stream (absolute offsets and near frame starts), and
    optionally a random back-pressure seed."""
    msgs = draw(st.lists(messages(), min_size=1, max_size=8))
    absolute = draw(st.lists(st.integers(0, 2**30), max_size=12))
    near_starts = draw(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 15)), max_size=12))
    pressure = draw(st.none() | st.integers(0, 2**32 - 1))
    return msgs, [-a - 1 for a in absolute] + [i * 16 + o for i, o in near_starts], pressure


def stream_and_cuts(frames: list[bytes], encoded_cuts: list[int]) -> tuple[bytes, list[int]]:
    stream = b"".join(frames)
    starts = [0]
    for frame in frames:
        starts.append(starts[-1] + len(frame))
    points = []
    for c in encoded_cuts:
        if c < 0:
            points.append((-c - 1) % (len(stream) + 1))
        else:
            points.append(starts[(c // 16) % len(frames)] + c % 16)
    return stream, points


async def consume_with_pressure(
    ws: DirectClientConnection | DirectServerConnection, sink: Sink, seed: int
) -> None:
    """Random room: sometimes none, sometimes a little, released at random moments."""
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(0)
        if rng.random() < 0.5:
            sink.room = (sink.room or 0) + rng.randint(0, 3)
            ws.release()


async def client_scenario(
    msgs: list[Message], cuts: list[int], pressure: int | None, with_101: bool
) -> None:
    """`with_101`: the first piece of the stream goes in the same write as the 101."""
    frames = [frame for m in msgs for frame in m.frames(None)]
    stream, points = stream_and_cuts(frames, cuts)
    expected = [(m.data, m.is_text) for m in msgs]
    pings = [m.ping for m in msgs if m.ping is not None]
    chunks = cut(stream, points)
    first = chunks.pop(0) if with_101 else b""
    async with RawServer() as server:
        ws, peer = await open_client(server, first, max_size=2**20)
        sink = Sink(room=None if pressure is None else 0)
        ws.attach(sink.has_room, sink)
        consumer = None
        if pressure is not None:
            consumer = asyncio.create_task(consume_with_pressure(ws, sink, pressure))
        await peer.send(*chunks)
        got = await sink.wait_for(len(expected))
        if consumer is not None:
            consumer.cancel()
        assert got == expected
        for ping in pings:
            pong = await peer.read_frame()
            assert (pong.opcode, pong.masked, pong.payload) == (PONG, True, ping)
        assert ws.fast_path
        assert ws.held == 0
        await finish(ws, peer)


async def server_scenario(
    msgs: list[Message], cuts: list[int], pressure: int | None, mask_seed: int
) -> None:
    rng = random.Random(mask_seed)
    frames = [frame for m in msgs for frame in m.frames(rng)]
    stream, points = stream_and_cuts(frames, cuts)
    expected = [(m.data, m.is_text) for m in msgs]
    pings = [m.ping for m in msgs if m.ping is not None]
    room = None if pressure is None else 0
    async with DirectServer(room=room) as server, raw_client(server.port) as client:
        ws, sink = await server.connection()
        consumer = None
        if pressure is not None:
            consumer = asyncio.create_task(consume_with_pressure(ws, sink, pressure))
        await client.send(*cut(stream, points))
        got = await sink.wait_for(len(expected))
        if consumer is not None:
            consumer.cancel()
        assert got == expected
        for ping in pings:
            pong = await client.read_frame()
            assert (pong.opcode, pong.masked, pong.payload) == (PONG, False, ping)
        assert ws.fast_path
        assert ws.held == 0


PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(scenarios(), st.booleans())
def test_client_property_messages_arrive_whole_and_in_order(
    scenario: tuple[list[Message], list[int], int | None], with_101: bool
) -> None:
    asyncio.run(client_scenario(*scenario, with_101))


@PROPERTY
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_server_property_masked_messages_arrive_whole_and_in_order(
    scenario: tuple[list[Message], list[int], int | None], mask_seed: int
) -> None:
    asyncio.run(server_scenario(*scenario, mask_seed))


def test_helpers_mask_round_trip() -> None:
    """The tests' own masking is the RFC's XOR (checked against websockets' apply_mask)."""
    for size in (0, 1, 3, 4, 5, 1000):
        data, mask = os.urandom(size), os.urandom(4)
        assert xor_mask(data, mask) == apply_mask(data, mask)
        assert xor_mask(xor_mask(data, mask), mask) == data


def test_both_sides_split_frames_under_uvloop() -> None:
    """uvloop hands bytes to `asyncio.Protocol` subclasses through `data_received` only: the
    direct path must take them there too (not fall back to websockets' parser)."""
    uvloop = pytest.importorskip("uvloop")

    async def exchange() -> None:
        async with DirectServer() as server:
            client = await connect(
                server.url, create_connection=DirectClientConnection, compression=None
            )
            assert isinstance(client, DirectClientConnection)
            received = Sink()
            client.attach(received.has_room, received)
            ws, sink = await server.connection()
            big = payload(100_000, 5)
            await client.send("hello")
            await client.send(big)
            await ws.send("from the server")
            assert await sink.wait_for(2) == [(b"hello", True), (big, False)]
            assert await received.wait_for(1) == [(b"from the server", True)]
            assert ws.fast_path and client.fast_path
            await client.close()
            await closed(ws)
            assert ws.close_code == 1000

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(exchange())


# ------------------------------------------------------------------------------ send_texts


async def test_client_send_texts_writes_masked_frames_with_fresh_keys() -> None:
    sizes = (0, 125, 126, 65535, 65536, 70000)
    messages = [payload(size, seed, text=True) for seed, size in enumerate(sizes)]
    async with RawServer() as server:
        ws, peer = await open_client(server)
        await ws.send_texts(messages)
        frames = [await peer.read_frame() for _ in messages]
        assert [f.payload for f in frames] == messages  # read_frame unmasks
        assert all(f.masked and f.fin and f.opcode == TEXT and f.rsv == 0 for f in frames)
        heads = [frame.payload[:4] for frame in frames if len(frame.payload) >= 4]
        assert len(heads) == len(set(heads))
        await finish(ws, peer)


async def test_server_send_texts_reaches_a_websockets_client() -> None:
    async with DirectServer() as server, connect(server.url, ping_interval=None) as client:
        ws, _ = await server.connection()
        big = payload(70000, 3, text=True)
        await ws.send_texts([b'{"type":"a"}', big])
        async with asyncio.timeout(TIMEOUT):
            assert await client.recv() == '{"type":"a"}'
            assert await client.recv() == big.decode()


async def test_send_texts_goes_through_websockets_when_compressed_or_closing() -> None:
    async with (
        DirectServer(compression="deflate") as server,
        connect(server.url, ping_interval=None, compression="deflate") as client,
    ):
        ws, _ = await server.connection()
        assert ws.protocol.extensions
        await ws.send_texts([b"x" * 5000])
        async with asyncio.timeout(TIMEOUT):
            assert await client.recv() == "x" * 5000
        await client.close()
        await closed(ws)
        with pytest.raises(ConnectionClosed):
            await ws.send_texts([b"late"])
