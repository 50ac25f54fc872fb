"""Sans-I/O turn state: response.create sequencing, playback accounting and truncation math.

No sockets and no clock: callers pass `now` (monotonic seconds) and send the frames returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...audio import AudioFormatName, duration_ms
from ...model import RealtimePlaybackTracker
from . import client_events

CREATE_EVENT_PREFIX = "ra_create_"
CANCEL_EVENT_PREFIX = "ra_cancel_"
_MAX_DROPPED = 64


@dataclass
class _PendingCreate:
    params: dict[str, Any] | None


class ResponseSequencer:
    """Sends `response.create` only when no response is active and no create is in flight.

    Creates asked for meanwhile wait in a queue; consecutive plain creates (no per-response
    parameters) collapse into one, since one response answers every input added before it.
    A create is released by `response.created`; a rejection echoing its `event_id` releases it
    too, and `conversation_already_has_active_response` puts it back at the head of the queue.
    """

    def __init__(self) -> None:
        self._queue: list[_PendingCreate] = []  # a few at most; a list is lean when idle
        self._in_flight: tuple[str, _PendingCreate] | None = None
        self._active: set[str] = set()
        self._counter = 0
        self.paused = False
        """While paused (disconnected) nothing is sent; `resume` flushes."""

    @property
    def active_responses(self) -> frozenset[str]:
        """Ids of responses the server is producing now."""
        return frozenset(self._active)

    @property
    def busy(self) -> bool:
        """True while a response is active or our create awaits its `response.created`."""
        return bool(self._active) or self._in_flight is not None

    @property
    def pending_count(self) -> int:
        """Creates waiting to be sent."""
        return len(self._queue)

    def request(self, params: Mapping[str, Any] | None = None) -> list[bytes]:
        """Ask for a response; returns the frames to send now (empty when it must wait)."""
        plain = not params
        if plain and self._queue and self._queue[-1].params is None:
            return []
        # A create already on the wire does not cover items added after it: queue another.
        self._queue.append(_PendingCreate(dict(params) if params else None))
        return self._flush()

    def on_response_created(self, response_id: str | None) -> None:
        """A response started (ours or one the server made on its own, e.g. server VAD)."""
        self._in_flight = None
        self._active.add(response_id or "")

    def on_response_done(self, response_id: str | None) -> list[bytes]:
        """A response ended; returns the next create to send, if any."""
        self._active.discard(response_id or "")
        return self._flush()

    def on_error(self, event_id: str | None, code: str | None) -> list[bytes]:
        """An error frame; releases our create if it was the one rejected."""
        if self._in_flight is None or event_id != self._in_flight[0]:
            return []
        pending = self._in_flight[1]
        self._in_flight = None
        if code == "conversation_already_has_active_response":
            # A response we have not seen start yet (server VAD) beat ours: wait for it to end.
            self._queue.insert(0, pending)
            self._active.add("")
            return []
        return self._flush()

    def on_disconnect(self) -> list[str]:
        """Connection lost: pause, re-queue an unanswered create; returns responses cut short."""
        self.paused = True
        if self._in_flight is not None:
            self._queue.insert(0, self._in_flight[1])
            self._in_flight = None
        cut = sorted(r for r in self._active if r)
        self._active.clear()
        return cut

    def resume(self) -> list[bytes]:
        """Connected again: send what waited."""
        self.paused = False
        return self._flush()

    def _flush(self) -> list[bytes]:
        if self.paused or self._active or self._in_flight is not None or not self._queue:
            return []
        pending = self._queue.pop(0)
        self._counter += 1
        event_id = f"{CREATE_EVENT_PREFIX}{self._counter}"
        self._in_flight = (event_id, pending)
        return [client_events.encode_response_create(pending.params, event_id)]


@dataclass
class _AudioItem:
    item_id: str
    content_index: int
    response_id: str
    first_delta_at: float
    received_bytes: int = 0
    done: bool = False


@dataclass
class Interruption:
    """What to do about audio being played when the user (or the app) interrupts."""

    item_id: str
    content_index: int
    response_id: str
    truncate_at_ms: int | None
    """`audio_end_ms` for `conversation.item.truncate`, or None when nothing needs truncating."""
    received_ms: float = 0.0
    """The item's audio received by then."""


@dataclass
class PlaybackState:
    """Which assistant audio the client has, how much, and which responses' audio to drop.

    Played time comes from the app's `RealtimePlaybackTracker` when there is one, else it is
    estimated as realtime since the item's first delta. Either way it is clamped to the audio
    actually received for that item.
    """

    tracker: RealtimePlaybackTracker | None = None
    audio_format: AudioFormatName = "pcm16"
    _current: _AudioItem | None = None
    _dropped: list[str] = field(default_factory=list)
    """The last `_MAX_DROPPED` interrupted responses."""

    def accept_delta(
        self, response_id: str, item_id: str, content_index: int, size: int, now: float
    ) -> bool:
        """Record an audio delta; False when it belongs to an interrupted response (drop it)."""
        if response_id in self._dropped:
            return False
        current = self._current
        if current is None or current.item_id != item_id or current.content_index != content_index:
            current = _AudioItem(item_id, content_index, response_id, now)
            self._current = current
        current.received_bytes += size
        return True

    def on_audio_done(self, item_id: str) -> None:
        """The server sent all audio of this item."""
        if self._current is not None and self._current.item_id == item_id:
            self._current.done = True

    def drop_response(self, response_id: str) -> None:
        """Late audio of this response will be dropped."""
        if response_id and response_id not in self._dropped:
            self._dropped.append(response_id)
            if len(self._dropped) > _MAX_DROPPED:
                del self._dropped[0]

    def is_dropped(self, response_id: str) -> bool:
        return response_id in self._dropped

    @property
    def current_response_id(self) -> str | None:
        """The response whose audio is being played, if any."""
        return None if self._current is None else self._current.response_id

    def received_ms(self) -> float:
        """Milliseconds of audio received for the current item."""
        if self._current is None:
            return 0.0
        return duration_ms(self._current.received_bytes, self.audio_format)

    def interrupt(self, now: float) -> Interruption | None:
        """Stop the current item: None when there is nothing being played."""
        current = self._current
        if current is None:
            return None
        received = duration_ms(current.received_bytes, self.audio_format)
        played = self._played_ms(current, now)
        self._current = None
        if self.tracker is not None:
            self.tracker.on_interrupted()
        if played is not None and current.done and played >= received:
            return None  # playback already finished: nothing to stop or truncate
        truncate_at: int | None = None
        if played is not None:
            clamped = math.floor(min(played, received) + 1e-6)  # 0.05 s is 49.99... ms
            truncate_at = clamped if clamped > 0 else None
        return Interruption(
            current.item_id, current.content_index, current.response_id, truncate_at, received
        )

    def _played_ms(self, current: _AudioItem, now: float) -> float | None:
        if self.tracker is None:
            return max(0.0, (now - current.first_delta_at) * 1000.0)
        state = self.tracker.get_state()
        if state["current_item_id"] != current.item_id:
            return None  # the app has not played any of this item
        if state["current_item_content_index"] not in (None, current.content_index):
            return None
        return state["elapsed_ms"] or 0.0
