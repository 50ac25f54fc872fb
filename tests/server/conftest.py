"""Shared fixtures: a scripted server on 127.0.0.1 whose every sent event is schema-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from server_helpers import EventRecorder, make_engines

from realtime_agents.server import RealtimeServer, ServerOptions, serve


@pytest.fixture(scope="session")
def recorder() -> EventRecorder:
    """One recorder for the whole suite."""
    return EventRecorder()


@pytest.fixture(autouse=True)
def _no_invalid_server_events(recorder: EventRecorder) -> Iterator[None]:
    """Fail the test during which the server sent an event the openai types reject."""
    before = len(recorder.invalid)
    yield
    new = recorder.invalid[before:]
    assert not new, f"server sent {len(new)} invalid event(s), first: {new[0]}"


@pytest.fixture
async def server(recorder: EventRecorder) -> AsyncIterator[RealtimeServer]:
    """A scripted server on a free loopback port with the test API key."""
    options = ServerOptions(api_key="test-key", event_hook=recorder)
    running = await serve("127.0.0.1", 0, make_engines(), options)
    try:
        yield running
    finally:
        await running.close()
