"""A realtime agent with two tools and a handoff, talking to a realtime server over text.

By default it talks to the local server (start it with `realtime-agents serve`):

    python examples/agent_with_tools.py
    python examples/agent_with_tools.py --message "Book a table for two at 8pm"

Installed from a wheel, `realtime-agents example agent [ARGS]` runs it and
`realtime-agents example --source agent > agent.py` saves a copy to edit.

Against OpenAI (or any OpenAI Realtime-compatible endpoint):

    python examples/agent_with_tools.py \
        --url "wss://api.openai.com/v1/realtime?model=gpt-realtime" --api-key "$OPENAI_API_KEY"
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
from typing import Any

from realtime_agents import RealtimeModelConfig
from realtime_agents.agents import (
    RealtimeAgent,
    RealtimeRunner,
    RealtimeSessionEvent,
    ToolContext,
    function_tool,
)
from realtime_agents.providers.openai import OpenAIRealtimeWebSocketModel

DEFAULT_URL = "ws://127.0.0.1:8765/v1/realtime?model=local"


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. "Paris".
    """
    return {"city": city, "sky": "clear", "temperature_c": 21}


@function_tool(timeout_s=5)
async def get_local_time(ctx: ToolContext[dict[str, str]], timezone_offset_hours: int = 0) -> str:
    """Get the current local time.

    Args:
        timezone_offset_hours: Offset from UTC in hours, e.g. 1 for Paris in winter.
    """
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=timezone_offset_hours)
    return f"{now:%H:%M} for {ctx.context['user']}"


@function_tool
def book_table(restaurant: str, people: int, time: str) -> str:
    """Book a restaurant table.

    Args:
        restaurant: The restaurant's name.
        people: How many people.
        time: When, e.g. "20:00".
    """
    return f"Booked {restaurant} for {people} at {time}. Confirmation: RT-4521."


booking_agent = RealtimeAgent(
    name="Booking",
    handoff_description="Books restaurant tables.",
    instructions="You book restaurant tables. Ask for anything missing, then book it.",
    tools=[book_table],
)

concierge = RealtimeAgent(
    name="Concierge",
    instructions=lambda context, agent: (
        f"You are a friendly concierge helping {context['user']}. Use your tools for weather "
        "and time questions. Hand off to Booking for restaurant reservations. Be brief."
    ),
    tools=[get_weather, get_local_time],
    handoffs=[booking_agent],
)


def show(event: RealtimeSessionEvent) -> None:
    """Print what happens, one line per interesting event."""
    match event.type:
        case "transcript_done" if event.role == "assistant":
            print(f"assistant: {event.transcript}")
        case "tool_start":
            print(f"  [tool] {event.tool.name}({event.arguments})")
        case "tool_end":
            print(f"  [tool] {event.tool.name} -> {event.output} ({event.status})")
        case "handoff":
            print(f"  [handoff] {event.from_agent.name} -> {event.to_agent.name}")
        case "turn_metrics" if event.metrics.time_to_first_transcript_s is not None:
            print(f"  [latency] first text after {event.metrics.time_to_first_transcript_s:.2f} s")
        case "error":
            print(f"  [error] {event.message}", file=sys.stderr)
        case _:
            pass


async def main(url: str, api_key: str | None, message: str, timeout_s: float) -> None:
    runner = RealtimeRunner(
        concierge,
        model=OpenAIRealtimeWebSocketModel(),
        config={"model_settings": {"output_modalities": ["text"]}},
    )
    # The local server on 127.0.0.1 needs no key unless it was started with one.
    model_config: RealtimeModelConfig = {"url": url, "api_key": api_key or "no-key-needed"}
    session = await runner.run(context={"user": "Ann"}, model_config=model_config)
    async with session:
        print(f"user: {message}")
        await session.send_message(message)
        try:
            async with asyncio.timeout(timeout_s):
                async for event in session:
                    show(event)
                    # Done when a response ends with text and no tool is still running.
                    if event.type == "agent_end" and answered(session):
                        break
        except TimeoutError:
            print(f"(no final answer within {timeout_s:g} s)", file=sys.stderr)
        print(f"history: {len(session.history)} items; tokens used: {session.usage.total_tokens}")


def answered(session: Any) -> bool:
    last = session.history[-1] if session.history else None
    return last is not None and getattr(last, "role", None) == "assistant"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("REALTIME_AGENTS_API_KEY") or os.environ.get("OPENAI_API_KEY"),
        help="API key (default: $REALTIME_AGENTS_API_KEY or $OPENAI_API_KEY)",
    )
    # One tool per question: the embedded 135M model garbles answers that need two tools.
    parser.add_argument(
        "--message", default="What's the weather in Paris?", help="what the user says"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this long")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.url, args.api_key, args.message, args.timeout))
