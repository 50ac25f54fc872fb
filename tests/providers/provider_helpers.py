"""Helpers for the OpenAI provider tests: an event collector and a connected model.

(A module of its own, not conftest: test directories each have a conftest, and `from conftest
import ...` picks whichever was imported first when several directories run together.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from realtime_agents.events import RealtimeModelEvent
from realtime_agents.model import RealtimeModelConfig, RealtimeModelListener
from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel
from realtime_agents.testing.fake_server import FakeRealtimeServer

TIMEOUT = 10.0


class Collector(RealtimeModelListener):
    """Records every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[RealtimeModelEvent] = []
        self._changed = asyncio.Condition()

    async def on_event(self, event: RealtimeModelEvent) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    def of(self, event_type: str) -> list[Any]:
        return [e for e in self.events if e.type == event_type]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    async def wait_for(
        self,
        event_type: str,
        count: int = 1,
        predicate: Callable[[Any], bool] = lambda e: True,
    ) -> Any:
        def matching() -> list[Any]:
            return [e for e in self.of(event_type) if predicate(e)]

        async with asyncio.timeout(TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()[count - 1]


async def open_model(
    server: FakeRealtimeServer, collector: Collector, **config: Any
) -> OpenAIRealtimeWebSocketModel:
    model_options = config.pop("model_options", {})
    model = OpenAIRealtimeWebSocketModel(**model_options)
    model.add_listener(collector)
    options: RealtimeModelConfig = {"url": server.url, "api_key": "sk-test-key"}
    options.update(config)  # type: ignore[typeddict-item]
    await model.connect(options)
    return model
