"""Failing a direct connection, and the write side's back-pressure.

While the transport's write buffer is over its high-water mark (the peer does not read what
this side writes), the socket is not read either. A peer that sends pings and never reads
would otherwise have every pong queued, without bound (`websockets` answers pings outside its
flow control); now its own writes back up. The write buffer stays under the high-water mark
plus the pongs of one read (under 1 MiB). With `stall_timeout` set, a write buffer that stays
over the mark that long fails the connection (close code 1011, the reason says so) and drops
it, as the peer would not read a close frame either.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.connection import Connection
from websockets.protocol import State

__all__ = ["FailingConnection"]


class FailingConnection(Connection):
    """The part of the direct connections that fails them (mixed in under their reading
    and writing part, which provides `_resume`)."""

    # Class-level defaults, set on the instance only when they change (see connection.py).
    _paused = False
    """Reading is paused because the sink has no room."""
    _failed = False
    """`fail` was called: no message after the one being delivered reaches the sink."""
    _write_paused = False
    """The transport's write buffer is over its high-water mark: the socket is not read."""
    _stall_timer: asyncio.TimerHandle | None = None
    _stall_size = 0
    """The write buffer's size when the stall timer was set."""
    stall_timeout: float | None = None
    """Seconds the peer may read nothing while the write buffer is over its high-water mark
    before the connection is failed and dropped; None: back-pressure only (the peer's writes
    back up, forever). A peer that reads slowly (the buffer shrinks) is not stalled."""

    def _resume(self) -> None:  # pragma: no cover - provided by the direct connections
        raise NotImplementedError

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7) as `websockets` does on a protocol error: send
        a close frame with `code` and `reason`, hand no later message to the sink, and drop
        the TCP connection if the peer has not closed it within `close_timeout`."""
        if self._failed or self.protocol.state is not State.OPEN:
            return
        self._failed = True
        self.protocol.fail(code, reason)
        try:
            self.send_data()
        except Exception:  # the transport is gone: connection_lost follows
            self.transport.abort()
            return
        self._resume()  # read on, to see the peer's close
        timeout = self.close_timeout
        if timeout is not None:
            self.loop.call_later(timeout, self._abort_unclosed)

    def _abort_unclosed(self) -> None:
        if not self.transport.is_closing():
            self.transport.abort()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_paused = True
        self.transport.pause_reading()
        if self._stall_timer is None:
            self._set_stall_timer()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._write_paused = False
        self._cancel_stall_timer()
        if not self._paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def _set_stall_timer(self) -> None:
        if self.stall_timeout is not None:
            self._stall_size = self.transport.get_write_buffer_size()
            self._stall_timer = self.loop.call_later(self.stall_timeout, self._stalled)

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _stalled(self) -> None:
        """The peer read nothing for `stall_timeout`: fail the connection (recorded as this
        side's close, see `own_close`) and drop it, as its close frame would not be read."""
        self._stall_timer = None
        waiting = self.transport.get_write_buffer_size()
        if waiting < self._stall_size:  # the peer reads, slowly: wait again
            self._set_stall_timer()
            return
        reason = f"write stalled: the peer read nothing for {self.stall_timeout:g} s"
        if self.protocol.state is State.OPEN:
            self.protocol.fail(1011, f"{reason} ({waiting} bytes waiting)")
        self.transport.abort()
