"""A `websockets` client connection that hands each message to a sink as soon as it is parsed.

`websockets`' asyncio connection queues incoming frames in an assembler, and a reader task
takes them one by one with `recv()`: per message a future, a task wake-up and flow-control
bookkeeping. Here `data_received` gives every complete data message straight to the sink, in
the same callback, so one socket read (often many frames) costs one pass and one wake-up of
whoever the sink notifies. Everything else (handshake, pings and pongs, keepalive, close
handshake, `max_size`, proxies, compression) stays `websockets`' own.

Back-pressure: when the sink has no room, messages are held here and the socket stops being
read (`transport.pause_reading`); `release()` hands them over when there is room again and
resumes reading. So at most one socket read's worth of messages is held.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.messages import Assembler
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
_READ_SIZE = 256 * 1024  # what asyncio's socket transport reads at most at once
_local = threading.local()


def _read_buffer() -> memoryview:
    """This thread's socket read buffer (threads with their own event loops get their own)."""
    try:
        view: memoryview = _local.view
    except AttributeError:
        view = _local.view = memoryview(bytearray(_READ_SIZE))
    return view


class _UnusedAssembler(Assembler):
    """Stands in for the per-connection assembler, which `DirectConnection` does not use."""

    def __init__(self) -> None:
        self.closed = True

    def put(self, frame: Frame) -> None:  # pragma: no cover - process_event never calls it
        raise RuntimeError("DirectConnection hands messages to its sink")

    def close(self) -> None:
        pass


_UNUSED = _UnusedAssembler()


class DirectConnection(ClientConnection, asyncio.BufferedProtocol):
    """A `ClientConnection` whose data messages go to a sink, not to `recv()`.

    It is also a `BufferedProtocol`: the transport reads into one reused buffer per thread
    (`get_buffer` and `buffer_updated` run back to back in one callback), instead of allocating
    256 KiB per read, which glibc may serve with mmap/mremap/munmap syscalls every time.
    """

    # Class-level defaults, set on the instance only when they change: an idle connection's
    # __dict__ stays within CPython's 30 shared keys (one more key and it doubles in size).
    _has_room: Callable[[], bool] | None = None
    _sink: Callable[[bytes], None] | None = None
    _discard = False
    _fragments: list[bytes] | None = None
    _held: deque[bytes] | None = None
    _paused = False
    _released: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages = _UNUSED  # messages never go through an assembler here

    @property
    def held(self) -> int:
        """Messages received but not yet handed to the sink."""
        return 0 if self._held is None else len(self._held)

    def attach(self, has_room: Callable[[], bool], sink: Callable[[bytes], None]) -> None:
        """Deliver messages to `sink` (which must not raise) while `has_room()`, starting with
        any that arrived before it was attached."""
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
            while held:
                if not has_room():
                    return
                sink(held.popleft())
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

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(_read_buffer()[:nbytes]))

    def process_event(self, event: Event) -> None:
        if event.__class__ is not Frame or event.opcode not in _DATA:
            super().process_event(event)  # the handshake response, pings, pongs, close
            return
        assert isinstance(event, Frame)
        data = event.data if type(event.data) is bytes else bytes(event.data)
        if not event.fin:
            if self._fragments is None:
                self._fragments = []
            self._fragments.append(data)
            return
        if self._fragments is not None:
            self._fragments.append(data)
            data = b"".join(self._fragments)
            self._fragments = None
        if self._discard:
            return
        sink, has_room = self._sink, self._has_room
        if self._held is None and sink is not None and has_room is not None and has_room():
            sink(data)
            return
        if self._held is None:
            self._held = deque()
        self._held.append(data)
        if not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._held is None:
            self._wake_released()
