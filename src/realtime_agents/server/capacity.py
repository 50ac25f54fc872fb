"""Responses in progress across every session of a server, against a limit.

Engines on few cores answer one or two turns at a time at a useful latency; past that every
turn gets slower and turns are lost unseen. With a limit (`max_concurrent_responses`), a turn
past it is refused and says so: a client's `response.create` gets an `error` event with code
`server_at_capacity`, a response the server would start itself (a VAD turn end, an idle
timeout) ends at once as `failed` with that error in `response.done`.
"""

from __future__ import annotations

from collections.abc import Collection

from .errors import SERVER_ERROR, ProtocolError

EMBEDDED_CONCURRENT_RESPONSES = 4
"""`serve`'s limit when every engine is embedded and `--max-concurrent-responses` is not
given. `benchmarks/speaking_capacity.py` on 2 shared cores: 10 sessions speaking with pauses
(20 when the cores were quieter) kept every turn detected and p50 end of speech -> first audio
under 1 s, with at most 3-5 responses in progress at once. With 4, such loads are rarely
refused, and past them the extra turns are told `server_at_capacity` instead of arriving late
(the answered ones' tail shrinks: 24 sessions, p95 4.8 s against 6.7 s). A process with more
cores answers more: raise it."""


def default_limit(engine_kinds: Collection[str]) -> int | None:
    """The limit for a server whose roles run engines of `engine_kinds` ("embedded", "http"):
    `EMBEDDED_CONCURRENT_RESPONSES` when every one is embedded (they share this machine's
    cores), None otherwise (an HTTP engine's capacity is its own server's)."""
    if engine_kinds and all(kind == "embedded" for kind in engine_kinds):
        return EMBEDDED_CONCURRENT_RESPONSES
    return None


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
