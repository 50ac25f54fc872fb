"""Adapters so one test body drives both agent-style model clients (Agents SDK and ours)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass
class Kit:
    """The classes one client family uses."""

    name: str
    make_model: Any
    listener_base: Any
    send_user_input: Any
    send_audio: Any
    send_tool_output: Any
    weather_tool: Any


def agents_sdk_kit() -> Kit:
    from agents.realtime.model import RealtimeModelListener
    from agents.realtime.model_inputs import (
        RealtimeModelSendAudio,
        RealtimeModelSendToolOutput,
        RealtimeModelSendUserInput,
    )
    from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel

    from agents import function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny"

    return Kit(
        "agents-sdk",
        OpenAIRealtimeWebSocketModel,
        RealtimeModelListener,
        lambda text: RealtimeModelSendUserInput(user_input=text),
        lambda audio: RealtimeModelSendAudio(audio=audio, commit=False),
        lambda call, output: RealtimeModelSendToolOutput(
            tool_call=call, output=output, start_response=True
        ),
        get_weather,
    )


def project_kit() -> Kit:
    from server_helpers import WEATHER_TOOL

    from realtime_agents.inputs import (
        RealtimeModelSendAudio,
        RealtimeModelSendToolOutput,
        RealtimeModelSendUserInput,
    )
    from realtime_agents.model import RealtimeModelListener
    from realtime_agents.providers.openai.websocket import OpenAIRealtimeWebSocketModel

    return Kit(
        "realtime-agents",
        lambda: OpenAIRealtimeWebSocketModel(emit_raw_events=True),
        RealtimeModelListener,
        lambda text: RealtimeModelSendUserInput(user_input=text),
        lambda audio: RealtimeModelSendAudio(audio=audio, commit=False),
        lambda call, output: RealtimeModelSendToolOutput(
            tool_call=call, output=output, start_response=True
        ),
        WEATHER_TOOL,
    )


class Collector:
    """Collects model events; `wait_for` waits for an event matching a predicate."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    async def on_event(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def raw_types(self) -> list[str]:
        return [
            e.data.get("type", "") if isinstance(e.data, dict) else getattr(e.data, "type", "")
            for e in self.events
            if e.type == "raw_server_event"
        ]

    async def wait_for(self, predicate: Any, start: int = 0) -> Any:
        """The first event at or after index `start` that satisfies `predicate`."""
        async with asyncio.timeout(20.0):
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def raw_done(self, start: int = 0) -> list[dict[str, Any]]:
        """`response.done` payloads seen as raw server events."""
        found = []
        for event in self.events[start:]:
            if event.type == "raw_server_event":
                data = event.data if isinstance(event.data, dict) else {}
                if data.get("type") == "response.done":
                    found.append(data)
        return found


def make_listener(kit: Kit, collector: Collector) -> Any:
    class Listener(kit.listener_base):  # type: ignore[misc, name-defined]
        async def on_event(self, event: Any) -> None:
            await collector.on_event(event)

    return Listener()
