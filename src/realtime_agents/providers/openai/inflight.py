"""Sans-I/O record of the conversation items this client sent and the server has not yet
acknowledged, to send again after a reconnect.

A user message, a tool output or any `conversation.item.create` is in flight from the moment
it is sent until the server reports the item (`conversation.item.added`, `.created`, `.done`
or `.retrieved` with its id) or rejects the create (an `error` naming its `event_id`). Items
the app sends without an id get one here, so the acknowledgement can be matched; an
acknowledged item is in `ReplayHistory`, which restores it, so nothing is sent twice.
Bounded by bytes: past the bound the oldest are forgotten, reported once per episode as
`replay_inflight_overflow`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from ...events import RealtimeErrorInfo, RealtimeModelErrorEvent

DEFAULT_MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024
ITEM_ID_PREFIX = "item_c"
"""Ids this client gives items (21 characters; OpenAI accepts client ids up to 32)."""
EVENT_ID_PREFIX = "evt_c"


def new_item_id() -> str:
    return ITEM_ID_PREFIX + secrets.token_hex(8)


def create_event_id(item_id: str) -> str:
    """The `event_id` of the `conversation.item.create` for `item_id` (a rejection names it)."""
    return EVENT_ID_PREFIX + item_id.removeprefix(ITEM_ID_PREFIX)[:26]


def with_ids(item: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The item with an `id` (a new one if it had none), and that id."""
    item_id = item.get("id")
    if isinstance(item_id, str) and item_id:
        return dict(item), item_id
    item_id = new_item_id()
    return {**item, "id": item_id}, item_id


class InFlightItems:
    """Item creates sent and not yet acknowledged, oldest first."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_IN_FLIGHT_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if max_bytes != DEFAULT_MAX_IN_FLIGHT_BYTES:
            self._max_bytes = max_bytes

    # Class-level defaults, set on the instance only when used: idle sessions stay lean.
    _max_bytes = DEFAULT_MAX_IN_FLIGHT_BYTES
    _frames: dict[str, tuple[str, bytes]] | None = None
    """item id -> (event id, its `conversation.item.create` frame), in the order sent."""
    _events: dict[str, str] | None = None
    """event id -> item id."""
    _size = 0
    _overflowing = False

    def __len__(self) -> int:
        return len(self._frames or ())

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def add(self, item_id: str, event_id: str, frame: bytes) -> RealtimeModelErrorEvent | None:
        """Record a create just queued; returns an error event the first time the bound
        forgets older ones."""
        if self._frames is None:
            self._frames, self._events = {}, {}
        assert self._events is not None
        self.acknowledge(item_id)  # the same id again: the newer create replaces it
        self._frames[item_id] = (event_id, frame)
        self._events[event_id] = item_id
        self._size += len(frame)
        if self._size <= self._max_bytes:
            self._overflowing = False
            return None
        while self._size > self._max_bytes and self._frames:
            self.acknowledge(next(iter(self._frames)))
        if self._overflowing:
            return None
        self._overflowing = True
        return RealtimeModelErrorEvent(
            error=RealtimeErrorInfo(
                message=(
                    f"more than {self._max_bytes} bytes of conversation items sent and not yet "
                    "acknowledged; the oldest will not be sent again after a reconnect"
                ),
                type="client_error",
                code="replay_inflight_overflow",
            )
        )

    def acknowledge(self, item_id: str) -> None:
        """The server reported the item (or the app deleted it): no longer in flight."""
        frames = self._frames
        if not frames:
            return
        entry = frames.pop(item_id, None)
        if entry is None:
            return
        event_id, frame = entry
        self._size -= len(frame)
        if self._events is not None:
            self._events.pop(event_id, None)
        if not frames:
            self._frames = self._events = None
            self._size = 0

    def rejected(self, event_id: str | None) -> None:
        """The server rejected the client event `event_id`: if it was a create, forget it."""
        if event_id and self._events:
            item_id = self._events.get(event_id)
            if item_id is not None:
                self.acknowledge(item_id)

    def replay_frames(self) -> list[bytes]:
        """The creates still in flight, in the order they were sent."""
        return [frame for _, frame in (self._frames or {}).values()]
