"""Fixtures for the OpenAI provider tests (helpers are in provider_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime_agents.testing.fake_server import FakeRealtimeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer() as fake:
        yield fake
