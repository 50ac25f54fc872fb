"""Let the WebSocket server read small `POST` requests with a body.

`websockets` parses the HTTP request of every connection and refuses a request body (and,
before version 17, any method but GET). The plain HTTP routes next to `/v1/realtime` need one
POST with a small JSON body (`/v1/realtime/client_secrets`), so `BodyReadingConnection` wraps
the line reader of its handshake parser: a `POST` request line reaches `websockets` as `GET`,
its `Content-Length` as 0, and the body is read right after the headers and kept on the
connection (`http_method`, `http_body`) for `process_request`. A WebSocket upgrade (a GET
without a body) goes through unchanged. What this relies on of the handshake parser is listed
by `missing_request_body_internals`, which the adapter's test checks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final

from websockets.server import ServerProtocol

from .connection import DirectServerConnection

MAX_BODY_BYTES: Final = 64 * 1024

LineReader = Callable[..., Generator[None, None, bytes | bytearray]]


class BodyReadingConnection(DirectServerConnection):
    """A server connection whose handshake also accepts `POST` with a body of at most
    `MAX_BODY_BYTES` (larger bodies end the connection, as a malformed request does)."""

    http_method = "GET"
    """The request's real method (`websockets` is shown GET)."""
    http_body = b""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        reader = protocol.reader
        setattr(reader, "read_line", _BodyLineReader(self, reader.read_line, reader).read_line)  # noqa: B010
        # The parser started before the line reader was wrapped (it waits for the first bytes
        # and has consumed none): restart it so it reads through the wrapper.
        protocol.parser = protocol.parse()
        next(protocol.parser)


class _BodyLineReader:
    def __init__(self, connection: BodyReadingConnection, read_line: LineReader, reader: Any):
        self.connection = connection
        self.original = read_line
        self.reader = reader
        self.first = True
        self.length = 0

    def read_line(self, *args: Any) -> Generator[None, None, bytes | bytearray]:
        line = yield from self.original(*args)
        if self.first:
            self.first = False
            if line.startswith(b"POST "):
                self.connection.http_method = "POST"
                return b"GET " + line[5:]
            return line
        if self.connection.http_method != "POST":
            return line
        if line[:15].lower() == b"content-length:":
            try:
                length = int(line[15:].strip())
            except ValueError:
                raise ValueError("invalid Content-Length") from None
            if not 0 <= length <= MAX_BODY_BYTES:
                raise ValueError(f"request body over {MAX_BODY_BYTES} bytes")
            self.length = length
            return b"Content-Length: 0\r\n"
        if line in (b"\r\n", b"\n") and self.length:  # the end of the head
            body = yield from self.reader.read_exact(self.length)
            self.connection.http_body = bytes(body)
        return line


def missing_request_body_internals(protocol: ServerProtocol) -> list[str]:
    """What `BodyReadingConnection` uses of a fresh `ServerProtocol` and the installed
    `websockets` lacks: its line reader's `read_line` and `read_exact` generators, and the
    restartable `parse()` generator held in `parser` (empty when all is there)."""
    missing = []
    reader = getattr(protocol, "reader", None)
    for name in ("read_line", "read_exact"):
        if not callable(getattr(reader, name, None)):
            missing.append(f"ServerProtocol.reader.{name}()")
    if not callable(getattr(protocol, "parse", None)):
        missing.append("ServerProtocol.parse()")
    if not hasattr(protocol, "parser"):
        missing.append("ServerProtocol.parser")
    return missing
