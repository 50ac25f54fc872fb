"""`websockets` asyncio connections that hand each data message straight to a sink.

`websockets`' asyncio connections parse every frame with a generator-based Python parser, queue
messages in an assembler, and a reader task takes them one by one with `recv()`: per message a
future, a task wake-up and flow-control bookkeeping. A realtime voice session is almost only
small complete text frames (audio deltas or appends), so here:

* after the HTTP handshake, this module splits the byte stream into frames itself; a complete,
  unfragmented, uncompressed text or binary frame within the size limit goes to the sink from
  the socket callback, unmasked (client frames) with `websockets`' C `apply_mask`;
* every other frame (ping, pong, close, fragments, anything with RSV bits, a mask where none
  belongs, a payload over `max_size`) is handed to `websockets` whole, so the handshake,
  keepalive, the close handshake, protocol errors (1002) and oversize messages (1009) stay
  `websockets`' own. Once the connection is no longer open, or a frame breaks the fast path's
  assumptions, every later byte goes to `websockets` too;
* the transport reads into one reused buffer per thread (`asyncio.BufferedProtocol`), instead
  of allocating 256 KiB per read; transports that only call `data_received` (uvloop) get the
  same routing.

Back-pressure: when the sink has no room, messages are held here and the socket stops being
read (`transport.pause_reading`); `release()` hands them over when there is room again and
resumes reading. So at most one socket read's worth of messages is held. The write side's
back-pressure, and failing a connection, are in `failure`.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

from .failure import FailingConnection

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets ships the C extension in its wheels
    from websockets.utils import apply_mask

__all__ = ["DirectClientConnection", "DirectServerConnection", "Sink", "frame_head"]

Sink = Callable[[bytes, bool], None]
"""Receives each complete data message: `(payload, is_text)`. It must not raise.

Text payloads are not checked for UTF-8 here (the sink decodes them anyway, and knows which
parts it can check cheaply): a sink that finds invalid UTF-8 calls the connection's
`fail(1007, reason)`, as RFC 6455 requires."""

_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
_READ_SIZE = 256 * 1024  # what asyncio's socket transport reads at most at once
_local = threading.local()

# How the bytes read from the socket are handled.
_HANDSHAKE = 0  # HTTP head: everything to websockets, watching for the blank line that ends it
_CHECK = 1  # just after the head: take over if the connection is open and plain
_FAST = 2  # frames split here; data frames to the sink, the rest to websockets whole
_WEBSOCKETS = 3  # everything to websockets (closing, compression, or a frame it must judge)


_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")


def frame_head(size: int, *, first: int = 0x81, mask_bit: int = 0) -> bytes:
    """The header of a complete frame of `size` payload bytes (RFC 6455): `first` is FIN plus
    the opcode (0x81: a final text frame); `mask_bit` 0x80 for a masked (client) frame, whose
    4-byte key then follows the header."""
    if size < 126:
        return bytes((first, mask_bit | size))
    if size < 65536:
        return _HEAD_16.pack(first, mask_bit | 126, size)
    return _HEAD_64.pack(first, mask_bit | 127, size)


def _read_buffer() -> memoryview:
    """This thread's socket read buffer (threads with their own event loops get their own)."""
    try:
        view: memoryview = _local.view
    except AttributeError:
        view = _local.view = memoryview(bytearray(_READ_SIZE))
    return view


class _UnusedAssembler(Assembler):
    """Stands in for the per-connection assembler, which direct connections do not use."""

    def __init__(self) -> None:
        self.closed = True

    def put(self, frame: Frame) -> None:  # pragma: no cover - process_event never calls it
        raise RuntimeError("direct connections hand messages to their sink")

    def close(self) -> None:
        pass


_UNUSED = _UnusedAssembler()


class _DirectMessages(FailingConnection):
    """The shared part of `DirectClientConnection` and `DirectServerConnection` (mixed in
    before `websockets`' client or server connection class)."""

    # Class-level defaults, set on the instance only when they change: an idle connection's
    # __dict__ stays within CPython's 30 shared keys (one more key and it doubles in size).
    _has_room: Callable[[], bool] | None = None
    _sink: Sink | None = None
    _discard = False
    _fragments: list[bytes] | None = None
    _fragment_text = True
    _held: deque[tuple[bytes, bool]] | None = None
    _released: asyncio.Future[None] | None = None
    _mode = _HANDSHAKE
    _pending = b""
    """In the handshake: the last bytes given to websockets (a blank line may span reads).
    Later: the start of a frame that has not fully arrived."""
    _pending_parts: list[bytes] | None = None
    _pending_need = 0
    """With `_pending_parts`: the bytes of a long frame so far, and how many the frame needs."""
    _limit: int | None = None
    _mask_bit = 0  # 0x80 on the server side: client frames must be masked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages = _UNUSED  # messages never go through an assembler here

    @property
    def held(self) -> int:
        """Messages received but not yet handed to the sink."""
        return 0 if self._held is None else len(self._held)

    @property
    def fast_path(self) -> bool:
        """True while this connection splits frames itself (for tests and diagnostics); from
        the handshake on, if the connection is open without extensions."""
        if self._mode == _CHECK:
            return self.protocol.state is State.OPEN and not self.protocol.extensions
        return self._mode == _FAST

    def attach(self, has_room: Callable[[], bool], sink: Sink) -> None:
        """Deliver messages to `sink` while `has_room()`, starting with any that arrived before
        it was attached."""
        self._has_room = has_room
        self._sink = sink
        self.release()

    def discard(self) -> None:
        """Drop held and further messages and keep reading (to see the close handshake)."""
        self._sink = None
        self._discard = True
        self._held = None
        self._fragments = None
        self._resume()
        self._wake_released()

    def release(self) -> None:
        """The sink has room: hand over the held messages, then read the socket again."""
        sink, has_room = self._sink, self._has_room
        held = self._held
        if sink is None or has_room is None:
            return
        if held is not None:
            while held and not self._failed:
                if not has_room():
                    return
                sink(*held.popleft())
            self._held = None
        self._resume()
        self._wake_released()

    def _wake_released(self) -> None:
        released = self._released
        if released is not None:
            self._released = None
            if not released.done():
                released.set_result(None)

    async def wait_released(self) -> None:
        """Wait until no message is held (the sink took them all)."""
        while self._held:
            self._released = self.loop.create_future()
            await self._released

    def own_close(self) -> tuple[int, str] | None:
        """The code and reason of the close frame this side sent first, or sent unanswered (a
        message over max_size is 1009, a protocol error 1002, a keepalive timeout 1011); None
        when the peer closed first or no close frame was sent."""
        protocol = self.protocol
        sent = protocol.close_sent
        if sent is None or (protocol.close_rcvd is not None and protocol.close_rcvd_then_sent):
            return None
        return sent.code, sent.reason

    def fail(self, code: int, reason: str) -> None:
        if not self._failed:
            self._mode = _WEBSOCKETS  # later bytes: websockets discards them until the close
        super().fail(code, reason)

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            if not self._write_paused and not self.transport.is_closing():
                self.transport.resume_reading()

    # ------------------------------------------------------------------ writing

    async def send_texts(self, payloads: Sequence[bytes]) -> None:
        """Send each payload (UTF-8 JSON) as a text message, all in one transport write.

        Frames are built here, masked with a fresh random key each on the client side, when
        the connection is open without extensions and no fragmented send is in progress;
        otherwise each goes through `websockets`' `send` (which also raises
        `ConnectionClosed` when the connection is closing). Flow control as `send`: drained
        while the transport's buffer is over its high-water mark."""
        protocol = self.protocol
        if (
            protocol.state is not State.OPEN
            or protocol.extensions
            or self.send_in_progress is not None
            or protocol.expect_continuation_frame
        ):
            for payload in payloads:
                await self.send(payload, text=True)
            return
        writes: list[bytes] = []
        if self._mask_bit:  # the server side: its own frames are not masked
            for payload in payloads:
                writes.append(frame_head(len(payload)))
                writes.append(payload)
        else:
            for payload in payloads:
                key = os.urandom(4)
                writes.append(frame_head(len(payload), mask_bit=0x80) + key)
                writes.append(apply_mask(payload, key))
        try:
            self.transport.writelines(writes)
        except Exception as error:  # as websockets' send: the connection is done
            self.transport.abort()
            await self.wait_closed()
            raise protocol.close_exc from error
        await self.drain()

    # ------------------------------------------------------------------ reading

    def get_buffer(self, sizehint: int) -> memoryview:
        try:
            view: memoryview = _local.view
        except AttributeError:
            view = _read_buffer()
        return view

    def buffer_updated(self, nbytes: int) -> None:
        # The transport calls this right after get_buffer, in the same thread.
        view: memoryview = _local.view
        if (
            self._mode == _FAST
            and nbytes >= 4
            and self._pending_parts is None
            and not self._pending
            and self._fragments is None
        ):
            # The usual read: exactly one complete unfragmented data frame with a 16-bit
            # length (126-65,535 bytes). Its payload is copied once, straight from the buffer.
            b0 = view[0]
            mask_bit = self._mask_bit
            if (b0 == 0x81 or b0 == 0x82) and view[1] == mask_bit | 126:
                length = (view[2] << 8) | view[3]
                limit = self._limit
                head = 8 if mask_bit else 4
                if head + length == nbytes and (limit is None or length <= limit):
                    if mask_bit:
                        self._deliver(apply_mask(view[8:nbytes], view[4:8].tobytes()), b0 == 0x81)
                    else:
                        self._deliver(view[4:nbytes].tobytes(), b0 == 0x81)
                    return
        self._route(view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        """Bytes from a transport that does not use `get_buffer` (uvloop calls this on every
        `asyncio.Protocol` subclass): routed exactly as `buffer_updated` routes them."""
        self._route(data)

    def _route(self, data: bytes) -> None:
        mode = self._mode
        if mode == _FAST:
            self._split(data)
        elif mode == _WEBSOCKETS:
            self._to_websockets(data)
        elif mode == _HANDSHAKE:
            self._handshake(data)
        else:
            self._check(data)

    def _to_websockets(self, data: bytes) -> None:
        super().data_received(data)

    def _handshake(self, data: bytes) -> None:
        """Give websockets the HTTP head, and no byte after it."""
        tail = self._pending
        joined = tail + data
        end = joined.find(b"\r\n\r\n")
        if end < 0:  # (websockets enforces its own limits on the head's size)
            self._pending = joined[-3:]
            self._to_websockets(data)
            return
        cut = end + 4 - len(tail)
        self._pending = b""
        self._mode = _CHECK
        self._to_websockets(data[:cut])
        if cut < len(data):
            self._check(data[cut:])

    def _check(self, data: bytes) -> None:
        """The first bytes after the head: frames are split here if the connection is open
        without extensions; otherwise (a failed handshake, compression, a client that sent
        frames before the server answered) websockets keeps them all."""
        protocol = self.protocol
        if protocol.state is State.OPEN and not protocol.extensions:
            limits = [
                size
                for size in (
                    getattr(protocol, "max_message_size", None),
                    getattr(protocol, "max_fragment_size", None),
                )
                if isinstance(size, int)
            ]
            if limits:
                self._limit = min(limits)
            self._mode = _FAST
            self._split(data)
            return
        self._mode = _WEBSOCKETS
        self._to_websockets(data)

    def _split(self, data: bytes) -> None:
        """Split whole frames off `data` (after what was pending) and route each one."""
        parts = self._pending_parts
        if parts is not None:
            parts.append(data)
            self._pending_need -= len(data)
            if self._pending_need > 0:
                return
            data = b"".join(parts)
            self._pending_parts = None
        elif self._pending:
            data = self._pending + data
            self._pending = b""
        n = len(data)
        pos = 0
        limit = self._limit
        mask_bit = self._mask_bit
        partial_end = 0  # where a frame that has not fully arrived ends
        while n - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = pos + 10
            if (b1 & 0x80) != mask_bit or (limit is not None and length > limit):
                # A mask where none belongs (or none where one must be), or too big: the
                # frame is websockets' to judge (1002 or 1009), from its header on.
                self._mode = _WEBSOCKETS
                self._to_websockets(data[pos:])
                return
            if mask_bit:
                head += 4
            end = head + length
            if end > n:
                partial_end = end
                break
            if (b0 == 0x81 or b0 == 0x82) and self._fragments is None:
                payload = data[head:end]
                if mask_bit:
                    payload = apply_mask(payload, data[head - 4 : head])
                self._deliver(payload, b0 == 0x81)
                if self._failed:  # the sink failed the connection: the rest is not read
                    return
            else:
                # Control frames, fragments, RSV bits, unknown opcodes: websockets parses the
                # whole frame (and answers pings, runs the close handshake, fails on errors).
                self._to_websockets(data[pos:end])
                if self.protocol.state is not State.OPEN:
                    self._mode = _WEBSOCKETS
                    if end < n:
                        self._to_websockets(data[end:])
                    return
            pos = end
        if pos < n:
            rest = data[pos:] if pos else data
            if partial_end:
                # Gather the frame's parts and join them once, however many reads it takes.
                self._pending_parts = [rest]
                self._pending_need = partial_end - n
            else:
                self._pending = rest

    def process_event(self, event: Event) -> None:
        if event.__class__ is not Frame or event.opcode not in _DATA:
            super().process_event(event)  # the handshake, pings, pongs, close
            return
        assert isinstance(event, Frame)
        data = event.data if type(event.data) is bytes else bytes(event.data)
        if not event.fin:
            if self._fragments is None:
                self._fragments = []
                self._fragment_text = event.opcode is Opcode.TEXT
            self._fragments.append(data)
            return
        is_text = event.opcode is Opcode.TEXT
        if self._fragments is not None:
            self._fragments.append(data)
            data = b"".join(self._fragments)
            is_text = self._fragment_text
            self._fragments = None
        self._deliver(data, is_text)

    def _deliver(self, data: bytes, is_text: bool) -> None:
        if self._discard:
            return
        sink, has_room = self._sink, self._has_room
        if self._held is None and sink is not None and has_room is not None and has_room():
            sink(data, is_text)
            return
        if self._held is None:
            self._held = deque()
        self._held.append((data, is_text))
        if not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall_timer()
        super().connection_lost(exc)
        if self._held is None:
            self._wake_released()


class DirectClientConnection(_DirectMessages, ClientConnection, asyncio.BufferedProtocol):
    """A `ClientConnection` whose data messages go to a sink, not to `recv()`.

    Use with `websockets.asyncio.client.connect(..., create_connection=...)`, then `attach`.
    """


class DirectServerConnection(_DirectMessages, ServerConnection, asyncio.BufferedProtocol):
    """A `ServerConnection` whose data messages go to a sink, not to `recv()`.

    Use with `websockets.asyncio.server.serve(..., create_connection=...)`, then `attach` in
    the handler.
    """

    _mask_bit = 0x80
