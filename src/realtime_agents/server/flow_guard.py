"""Bounded writes to peers that do not read: the server's WebSocket connection class.

A client that sends pings and never reads makes `websockets` queue a pong for each, and the
transport's write buffer grows without bound; its keepalive ping then waits behind the full
buffer, so it never times out. `GuardedServerConnection` stops reading from a peer while more
than `max_write_buffer_bytes` wait to be sent to it (so it cannot make more answers queue up:
the buffer holds at most that plus one socket read's worth), and disconnects a peer that has
taken nothing for `write_timeout` seconds while data waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from .._wsdirect import DirectServerConnection

logger = logging.getLogger(__name__)

DEFAULT_MAX_WRITE_BUFFER_BYTES = 1024 * 1024
DEFAULT_WRITE_TIMEOUT = 30.0
READ_SIZE_BYTES = 256 * 1024
"""The most one socket read takes (asyncio's read size): what the write buffer can grow by
past `max_write_buffer_bytes` before reading stops (a pong is no larger than its ping)."""


class GuardedServerConnection(DirectServerConnection):
    """A `DirectServerConnection` with a bounded write buffer and a write timeout (set them
    on a subclass: `guarded_connection_class`)."""

    max_write_buffer_bytes = DEFAULT_MAX_WRITE_BUFFER_BYTES
    write_timeout = DEFAULT_WRITE_TIMEOUT
    # Class-level defaults, set on the instance only when they change (see `_wsdirect`).
    reading_stopped_for_writes = False
    """True while reading is stopped because too much waits to be sent."""
    _stall_timer: asyncio.TimerHandle | None = None

    def can_write(self) -> bool:
        """Whether the bytes waiting for the peer are within `max_write_buffer_bytes` (a
        session takes no more client messages while they are not: see `resume_writing`)."""
        transport = self.transport
        return transport is None or transport.get_write_buffer_size() <= self._write_limit()

    def _write_limit(self) -> int:
        # Never below the transport's high-water mark: only past it does the transport call
        # `resume_writing` once it drains, which reads again.
        return max(self.max_write_buffer_bytes, self.transport.get_write_buffer_limits()[1])

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes waiting in the transport to be sent to the peer."""
        transport = self.transport
        return 0 if transport is None else int(transport.get_write_buffer_size())

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self._bound_writes()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._bound_writes()

    def _bound_writes(self) -> None:
        transport = self.transport
        if (
            not self.reading_stopped_for_writes
            and transport.get_write_buffer_size() > self._write_limit()
            and not transport.is_closing()
        ):
            self.reading_stopped_for_writes = True
            transport.pause_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.write_timeout, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_timer()
        if self.held:  # messages held while the peer was not reading: room again
            self.release()
        if self.reading_stopped_for_writes:
            self.reading_stopped_for_writes = False
            # (held messages keep reading stopped until the session takes them)
            if not self.held and not self.transport.is_closing():
                self.transport.resume_reading()

    def _stalled(self) -> None:
        self._stall_timer = None
        logger.warning(
            "disconnecting a peer that took no data for %.1f s (%d bytes waiting for it)",
            self.write_timeout,
            self.write_buffer_bytes,
        )
        self.transport.abort()

    def _cancel_timer(self) -> None:
        timer = self._stall_timer
        if timer is not None:
            timer.cancel()
            self._stall_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)


def guarded_connection_class(
    max_write_buffer_bytes: int,
    write_timeout: float,
    base: type[DirectServerConnection] = DirectServerConnection,
) -> type[GuardedServerConnection]:
    """A `GuardedServerConnection` class with these limits (for `websockets.serve`), over
    `base` (another `DirectServerConnection` subclass keeps its own behaviour too)."""
    bases: tuple[type, ...] = (GuardedServerConnection,)
    if base is not DirectServerConnection:
        bases += (base,)
    limits = {"max_write_buffer_bytes": max_write_buffer_bytes, "write_timeout": write_timeout}
    return cast(type[GuardedServerConnection], type("ConfiguredConnection", bases, limits))
