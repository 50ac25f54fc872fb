"""Responses in progress across every session of a server, against a limit.

Engines on few cores answer one or two turns at a time at a useful latency; past that every
turn gets slower and turns are lost unseen. With a limit (`max_concurrent_responses`), a turn
past it is refused and says so: a client's `response.create` gets an `error` event with code
`server_at_capacity`, a response the server would start itself (a VAD turn end, an idle
timeout) ends at once as `failed` with that error in `response.done`.
"""

from __future__ import annotations

from .errors import SERVER_ERROR, ProtocolError


class ResponseCapacity:
    """A counter of responses in progress shared by a server's sessions (one event loop)."""

    def __init__(self, limit: int | None) -> None:
        """`limit`: responses in progress at once across sessions (None: no limit)."""
        self.limit = limit
        self.in_progress = 0

    @property
    def full(self) -> bool:
        """Whether another response would be refused now."""
        return self.limit is not None and self.in_progress >= self.limit

    def take(self) -> bool:
        """Count one more response in progress, if the limit allows it."""
        if self.full:
            return False
        self.in_progress += 1
        return True

    def give_back(self) -> None:
        """A response counted by `take` ended."""
        self.in_progress = max(0, self.in_progress - 1)

    def refusal(self) -> ProtocolError:
        """The error a response past the limit gets."""
        return ProtocolError(
            "server_at_capacity",
            f"The server is at capacity: {self.in_progress} responses are in progress across "
            f"its sessions, its limit (--max-concurrent-responses {self.limit}). This turn gets "
            "no reply; try again when a response is done.",
            error_type=SERVER_ERROR,
        )
