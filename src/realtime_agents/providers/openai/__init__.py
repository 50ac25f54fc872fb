"""The OpenAI Realtime provider: `OpenAIRealtimeWebSocketModel` and its sans-I/O parts."""

from __future__ import annotations

from .options import DEFAULT_BASE_URL, DEFAULT_MODEL, RECOVERABLE_CLOSE_CODES, TransportOptions
from .protocol import OpenAIRealtimeProtocol
from .websocket import OpenAIRealtimeWebSocketModel, RealtimeConnectionError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "RECOVERABLE_CLOSE_CODES",
    "OpenAIRealtimeProtocol",
    "OpenAIRealtimeWebSocketModel",
    "RealtimeConnectionError",
    "TransportOptions",
]
