"""Three function tools for tests and benchmarks of tool routing: weather, timer, music.

One definition, so the router's benchmark, the turn-taking benchmark and the engine tests offer
the embedded model exactly the same tools (their figures are comparable).
"""

from __future__ import annotations

from typing import Any, Final

WEATHER_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIMER_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": "set_timer",
    "description": "Start a countdown timer.",
    "parameters": {
        "type": "object",
        "properties": {"minutes": {"type": "integer"}},
        "required": ["minutes"],
    },
}
MUSIC_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": "play_music",
    "description": "Play music by an artist or in a genre.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
