"""Helpers for agents-layer tests: an event recorder and model-event factories."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from realtime_agents import (
    RealtimeModelAudioEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelTurnStartedEvent,
)
from realtime_agents.agents import RealtimeSession, RealtimeSessionEvent

GUARD_S = 10.0
"""A guard against hangs only; no test asserts how long anything took."""


class EventRecorder:
    """Reads one consumer's events and keeps them, waiting for a given one when asked."""

    def __init__(self, session: RealtimeSession) -> None:
        self._iterator: AsyncIterator[RealtimeSessionEvent] = aiter(session.events())
        self.seen: list[RealtimeSessionEvent] = []

    async def until(
        self, match: str | Callable[[RealtimeSessionEvent], bool], *, count: int = 1
    ) -> RealtimeSessionEvent:
        """Read until `count` events (counted from now) match a type name or predicate."""

        def check(event: RealtimeSessionEvent) -> bool:
            return event.type == match if isinstance(match, str) else match(event)

        found = 0
        async with asyncio.timeout(GUARD_S):
            async for event in self._iterator:
                self.seen.append(event)
                if check(event):
                    found += 1
                    if found == count:
                        return event
        raise AssertionError(f"the events ended before {match!r} (seen: {self.types()})")

    async def rest(self) -> list[RealtimeSessionEvent]:
        """Read until iteration ends; the events read by this call."""
        start = len(self.seen)
        async with asyncio.timeout(GUARD_S):
            async for event in self._iterator:
                self.seen.append(event)
        return self.seen[start:]

    def types(self) -> list[str]:
        """The type of each event seen so far."""
        return [event.type for event in self.seen]

    def of_type(self, name: str) -> list[Any]:
        """The events seen so far with this type."""
        return [event for event in self.seen if event.type == name]


def tool_call(
    name: str, arguments: str = "{}", call_id: str = "call_1", item_id: str | None = None
) -> RealtimeModelToolCallEvent:
    return RealtimeModelToolCallEvent(
        name=name, call_id=call_id, arguments=arguments, id=item_id or f"item_{call_id}"
    )


def assistant_turn(
    response_id: str, item_id: str, text: str, *, audio: bytes | None = None
) -> list[Any]:
    """The events of a short assistant response."""
    events: list[Any] = [RealtimeModelTurnStartedEvent(response_id=response_id)]
    if audio is not None:
        events.append(RealtimeModelAudioEvent(data=audio, response_id=response_id, item_id=item_id))
    events.append(
        RealtimeModelTranscriptDeltaEvent(item_id=item_id, delta=text, response_id=response_id)
    )
    events.append(RealtimeModelTurnEndedEvent(response_id=response_id, status="completed"))
    return events
