"""Raw WebSocket peers for the `_wsdirect` tests: hand-made frames over real loopback sockets.

The frames are built and parsed here independently of `websockets` (masking included), so the
tests check `_wsdirect` against the RFC 6455 wire format, not against itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import random
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from realtime_agents._wsdirect import DirectClientConnection, DirectServerConnection

TIMEOUT = 10.0
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ---------------------------------------------------------------------------------- frames


def xor_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 masking (its own inverse), without `websockets`' apply_mask."""
    if not data:
        return b""
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def encode(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
) -> bytes:
    """One frame; `mask` given: masked with it (what a client sends)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, mask_bit | n])
    elif n < 65536:
        head = bytes([b0, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + xor_mask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def new_mask(rng: random.Random | None = None) -> bytes:
    return os.urandom(4) if rng is None else rng.randbytes(4)


@dataclass
class RawFrame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    masked: bool

    @property
    def close_code(self) -> int:
        assert self.opcode == CLOSE
        return int.from_bytes(self.payload[:2], "big")

    @property
    def close_reason(self) -> str:
        assert self.opcode == CLOSE
        return self.payload[2:].decode()


async def read_frame(reader: asyncio.StreamReader) -> RawFrame:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    masked = bool(head[1] & 0x80)
    mask = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(n)
    if masked:
        payload = xor_mask(payload, mask)
    return RawFrame(bool(head[0] & 0x80), (head[0] >> 4) & 7, head[0] & 0x0F, payload, masked)


async def read_until_close(reader: asyncio.StreamReader) -> tuple[RawFrame, list[RawFrame]]:
    """Frames up to the first close frame: (the close frame, the ones before it)."""
    before: list[RawFrame] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await read_frame(reader)
            if frame.opcode == CLOSE:
                return frame, before
            before.append(frame)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


# ---------------------------------------------------------------------------------- writes


async def ticks(n: int = 3) -> None:
    """Let the event loop run a few rounds (so the peer reads what was just written)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def write_chunks(writer: asyncio.StreamWriter, chunks: Sequence[bytes]) -> None:
    """Each chunk in its own write, with loop rounds in between so each tends to be read
    separately (TCP may still merge them; the tests never depend on it)."""
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await ticks()


def cut(data: bytes, positions: Sequence[int]) -> list[bytes]:
    """`data` cut at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({p for p in positions if 0 < p < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# ---------------------------------------------------------------------------------- sink


class Sink:
    """Collects `(payload, is_text)`; `room` is how many more it takes (None: unlimited)."""

    def __init__(self, room: int | None = None) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self.room = room
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def has_room(self) -> bool:
        return self.room is None or self.room > 0

    def __call__(self, payload: bytes, is_text: bool) -> None:
        assert type(payload) is bytes, type(payload)
        assert self.has_room(), "the sink was called without room"
        if self.room is not None:
            self.room -= 1
        self.messages.append((payload, is_text))
        for count, waiter in self._waiters:
            if len(self.messages) >= count and not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, count: int) -> list[tuple[bytes, bool]]:
        if len(self.messages) < count:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((count, waiter))
            async with asyncio.timeout(TIMEOUT):
                await waiter
        return self.messages


# ---------------------------------------------------------------------------------- client side


class RecordingClientConnection(DirectClientConnection):
    """Records the size of every socket read (to check a test really split the stream)."""

    reads: list[int]

    def buffer_updated(self, nbytes: int) -> None:
        if "reads" not in self.__dict__:
            self.reads = []
        self.reads.append(nbytes)
        super().buffer_updated(nbytes)


class _RawEnd:
    """What both raw ends do with their stream: write chunks, read (unmasked) frames."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, *chunks: bytes) -> None:
        await write_chunks(self.writer, chunks)

    async def read_frame(self) -> RawFrame:
        async with asyncio.timeout(TIMEOUT):
            return await read_frame(self.reader)

    async def read_until_close(self) -> tuple[RawFrame, list[RawFrame]]:
        return await read_until_close(self.reader)


class RawPeer(_RawEnd):
    """The server end of one raw connection, after it read the client's upgrade request."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.request = request
        self.done = asyncio.Event()
        headers = {}
        for line in request.decode().split("\r\n")[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        self.headers = headers

    def response(self) -> bytes:
        accept = accept_key(self.headers["sec-websocket-key"])
        return (
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n"
            "\r\n"
        ).encode()

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        self.done.set()


class RawServer:
    """A TCP server that reads the upgrade request and lets the test write the rest."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self._all: list[RawPeer] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for peer in self._all:
            peer.close()
        assert self._server is not None
        self._server.close()
        with suppress(Exception):
            async with asyncio.timeout(TIMEOUT):
                await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        peer = RawPeer(reader, writer, request)
        self._all.append(peer)
        await self.peers.put(peer)
        await peer.done.wait()

    async def accept(self) -> RawPeer:
        async with asyncio.timeout(TIMEOUT):
            return await self.peers.get()


async def open_client(
    server: RawServer,
    after: bytes = b"",
    *,
    split: Callable[[bytes], list[bytes]] | None = None,
    connection: type[DirectClientConnection] = DirectClientConnection,
    **kwargs: Any,
) -> tuple[DirectClientConnection, RawPeer]:
    """Connect a direct client to `server`; the 101 response and `after` (frames) are written
    as one stream, in one write or cut by `split`. The sink is not attached yet."""
    options: dict[str, Any] = {
        "compression": None,
        "ping_interval": None,
        "close_timeout": 2,
        "open_timeout": TIMEOUT,
    }
    options.update(kwargs)
    opening = connect(server.url, create_connection=connection, **options)

    async def open_() -> Any:
        return await opening

    task = asyncio.create_task(open_())
    peer = await server.accept()
    stream = peer.response() + after
    # No drain: before `attach`, the client holds messages and stops reading.
    for chunk in split(stream) if split else [stream]:
        peer.writer.write(chunk)
        await ticks()
    async with asyncio.timeout(TIMEOUT):
        ws = await task
    assert isinstance(ws, connection)
    return ws, peer


async def open_attached(server: RawServer) -> tuple[DirectClientConnection, RawPeer, Sink]:
    """`open_client`, then a `Sink` attached (with room)."""
    ws, peer = await open_client(server)
    sink = Sink()
    ws.attach(sink.has_room, sink)
    return ws, peer, sink


async def closed(ws: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        await ws.wait_closed()


# ---------------------------------------------------------------------------------- server side


class DirectServer:
    """`websockets.serve` with `DirectServerConnection`; each handler attaches a new `Sink`."""

    def __init__(self, room: int | None = None, **kwargs: Any) -> None:
        self.room = room
        self.options: dict[str, Any] = {"compression": None, "ping_interval": None}
        self.options.update(kwargs)
        self.accepted: asyncio.Queue[tuple[DirectServerConnection, Sink]] = asyncio.Queue()
        self.port = 0
        self._cm: Any = None

    async def _handler(self, ws: Any) -> None:
        assert isinstance(ws, DirectServerConnection)
        sink = Sink(self.room)
        ws.attach(sink.has_room, sink)
        await self.accepted.put((ws, sink))
        await ws.wait_closed()

    async def __aenter__(self) -> DirectServer:
        self._cm = serve(
            self._handler, "127.0.0.1", 0, create_connection=DirectServerConnection, **self.options
        )
        server = await self._cm.__aenter__()
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self._cm.__aexit__(None, None, None)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def connection(self) -> tuple[DirectServerConnection, Sink]:
        async with asyncio.timeout(TIMEOUT):
            return await self.accepted.get()


class RawClient(_RawEnd):
    """A client that does the upgrade by hand and sends hand-made (masked) frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.response = b""

    @classmethod
    async def connect(
        cls,
        port: int,
        pipelined: bytes = b"",
        *,
        split: Callable[[bytes], list[bytes]] | None = None,
    ) -> RawClient:
        """Upgrade; `pipelined` bytes go right after the request, before the 101 is read."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET / HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        ).encode() + pipelined
        await write_chunks(writer, split(request) if split else [request])
        async with asyncio.timeout(TIMEOUT):
            client.response = await reader.readuntil(b"\r\n\r\n")
        assert client.response.startswith(b"HTTP/1.1 101"), client.response
        assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in client.response
        assert b"Sec-WebSocket-Extensions" not in client.response
        return client

    async def at_eof(self) -> bool:
        async with asyncio.timeout(TIMEOUT):
            return await self.reader.read(1) == b""

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


@asynccontextmanager
async def raw_client(port: int, pipelined: bytes = b"", **kwargs: Any) -> AsyncIterator[RawClient]:
    client = await RawClient.connect(port, pipelined, **kwargs)
    try:
        yield client
    finally:
        client.close()


# ---------------------------------------------------------------------------------- TLS


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context)."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(key_pem)
        server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client
