"""The handshake with hostile bytes and the debug log (issue 14, server 6 and 7): a key or a
query with non-ASCII bytes gets its proper `error` event, and no log line holds a key."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from server_helpers import make_engines
from socket_client import receive

from realtime_agents.server import RealtimeServer, ServerOptions, serve
from realtime_agents.server.log_redaction import websockets_logger

KEY = "sk-test-3f9a2c7d"


@pytest.fixture
async def keyed_server() -> AsyncIterator[RealtimeServer]:
    running = await serve("127.0.0.1", 0, make_engines(), ServerOptions(api_key=KEY))
    try:
        yield running
    finally:
        await running.close()


def upgrade(path: bytes, *headers: bytes) -> bytes:
    """A WebSocket upgrade request with raw header bytes."""
    lines = [
        b"GET " + path + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        *headers,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked server frames after the HTTP response head."""
    assert data.startswith(b"HTTP/1.1 101"), data[:100]
    data = data[data.index(b"\r\n\r\n") + 4 :]
    found = []
    while len(data) >= 2:
        length, head = data[1] & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[2:4], "big"), 4
        found.append((data[0] & 0x0F, data[head : head + length]))
        data = data[head + length :]
    return found


async def raw_exchange(port: int, request: bytes) -> tuple[dict[str, Any], int]:
    """Send a raw upgrade request; the `error` event the server sent and its close code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = b""
    async with asyncio.timeout(10):
        while chunk := await reader.read(65536):
            data += chunk
            if any(opcode == 8 for opcode, _ in frames(data)):
                break
    writer.close()
    received = frames(data)
    texts = [json.loads(payload) for opcode, payload in received if opcode == 1]
    close = [payload for opcode, payload in received if opcode == 8]
    assert len(texts) == 1 and len(close) == 1, received
    return texts[0], int.from_bytes(close[0][:2], "big")


@pytest.mark.parametrize(
    "header",
    [
        "Authorization: Bearer sk-t\u00e9st".encode("latin-1"),
        "Authorization: Bearer sk-t\u00e9st".encode(),
        "api-key: sk-\u2603".encode(),
    ],
    ids=["latin-1-bearer", "utf-8-bearer", "utf-8-api-key"],
)
async def test_a_non_ascii_key_is_an_invalid_api_key(
    keyed_server: RealtimeServer, header: bytes
) -> None:
    error, code = await raw_exchange(
        keyed_server.port, upgrade(b"/v1/realtime?model=local", header)
    )
    assert error["error"]["code"] == "invalid_api_key"
    assert code == 3000


async def test_a_non_ascii_key_that_matches_is_accepted() -> None:
    server = await serve(
        "127.0.0.1", 0, make_engines(), ServerOptions(api_key="cl\u00e9-secr\u00e8te")
    )
    try:
        header = "Authorization: Bearer cl\u00e9-secr\u00e8te".encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(upgrade(b"/v1/realtime?model=local", header))
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            assert b"session.created" in await reader.read(65536)
        writer.close()
    finally:
        await server.close()


async def test_a_raw_byte_in_the_key_subprotocol_is_a_bad_request(
    keyed_server: RealtimeServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", keyed_server.port)
    writer.write(
        upgrade(
            b"/v1/realtime?model=local",
            b"Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.sk-\xff",
        )
    )
    async with asyncio.timeout(10):
        response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"Invalid Sec-WebSocket-Protocol header: it must be ASCII." in response


@pytest.mark.parametrize(
    "path", [b"/v1/realtime?model=lo\xffcal", b"/v1/realtime?model=lo%FFcal"], ids=["raw", "quoted"]
)
async def test_a_query_that_is_not_utf8_is_an_invalid_request(
    keyed_server: RealtimeServer, path: bytes
) -> None:
    error, code = await raw_exchange(
        keyed_server.port, upgrade(path, f"Authorization: Bearer {KEY}".encode())
    )
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_value"
    assert "not UTF-8" in error["error"]["message"]
    assert code == 4000


async def test_debug_logging_never_shows_the_key(
    keyed_server: RealtimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for headers, subprotocols in (
        ({"Authorization": f"Bearer {KEY}"}, None),
        ({"api-key": KEY}, None),
        ({}, ["realtime", f"openai-insecure-api-key.{KEY}"]),
        ({"Authorization": "Bearer sk-wrong-key-1234"}, None),
    ):
        async with websockets.connect(
            keyed_server.url + "?model=local",
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
        ) as ws:
            await receive(ws)
    server_side = ("websockets.server", "realtime_agents")  # (the test's client logs its own)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(server_side)]
    assert any(line.startswith("< Authorization: ") for line in lines)  # the lines are there
    assert any("openai-insecure-api-key." in line for line in lines)
    assert not [line for line in lines if KEY in line or "sk-wrong-key-1234" in line]


async def test_a_malformed_request_is_one_info_line_not_an_error_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An HTTP/1.0 request (HAProxy's default health check, a port scanner) is dropped and
    logged as one info line, without a traceback and without the request's query."""
    server = await serve("127.0.0.1", 0, make_engines(), ServerOptions())
    logged = asyncio.Event()
    signal = logging.Handler()
    signal.emit = lambda record: logged.set()  # type: ignore[method-assign]
    logger = logging.getLogger("websockets.server")
    logger.addHandler(signal)
    try:
        with caplog.at_level(logging.INFO, logger="websockets.server"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /health?key=secret HTTP/1.0\r\n\r\n")
            async with asyncio.timeout(10):
                reply = await reader.read()
                writer.close()
                await logged.wait()  # websockets gives up once the client has gone
    finally:
        logger.removeHandler(signal)
        await server.close()
    assert reply == b""
    failed = [r for r in caplog.records if "handshake failed" in r.getMessage()]
    assert len(failed) == 1, failed
    assert failed[0].levelno == logging.INFO and not failed[0].exc_info
    assert "secret" not in failed[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_refused_handshake_keeps_its_traceback_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = websockets_logger(["sk-secret"])
    for level, traceback_expected in ((logging.INFO, False), (logging.DEBUG, True)):
        caplog.clear()
        with caplog.at_level(level, logger="websockets.server"):
            try:
                try:
                    raise ValueError("unsupported protocol; expected HTTP/1.1: GET /?k=sk-secret")
                except ValueError as cause:
                    raise EOFError("did not receive a valid HTTP request") from cause
            except EOFError:
                logger.error("opening handshake failed", exc_info=True)
        (record,) = caplog.records
        assert record.levelno == logging.INFO
        assert record.getMessage() == (
            "opening handshake failed: EOFError: did not receive a valid HTTP request "
            "(unsupported protocol; expected HTTP/1.1)"
        )
        assert bool(record.exc_info) is traceback_expected
