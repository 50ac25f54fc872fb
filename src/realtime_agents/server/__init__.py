"""The local realtime server: speaks the OpenAI Realtime protocol over WebSocket with local
(or HTTP) engines.

Public names: `serve`, `ServerOptions` and `RealtimeServer` (imported from `app` on first
use: it pulls in `websockets`), the engine interfaces (`EngineSet`, `VadEngine`,
`SpeechToTextEngine`, `LanguageModelEngine`, `TextToSpeechEngine` and the request/chunk
types) and the optional engine abilities (`InlineEngine`, `PrefillingLanguageModel`,
`PreparingLanguageModel`, `WarmableEngine`)::

    from realtime_agents.server import ServerOptions, serve
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engines.base import (
    ChatMessage,
    EngineSet,
    InlineEngine,
    LanguageModelEngine,
    LlmChunk,
    LlmRequest,
    LlmToolCall,
    Pcm16RateDetector,
    PrefillingLanguageModel,
    PreparingLanguageModel,
    SpeechToTextEngine,
    TextToSpeechEngine,
    VadEngine,
    VoiceActivityDetector,
    WarmableEngine,
)

if TYPE_CHECKING:
    from .app import RealtimeServer, ServerOptions, serve

_FROM_APP = ("RealtimeServer", "ServerOptions", "serve")
"""Names imported from `app` on first access (it imports `websockets` and the pipeline)."""

__all__ = [
    "ChatMessage",
    "EngineSet",
    "InlineEngine",
    "LanguageModelEngine",
    "LlmChunk",
    "LlmRequest",
    "LlmToolCall",
    "Pcm16RateDetector",
    "PrefillingLanguageModel",
    "PreparingLanguageModel",
    "RealtimeServer",
    "ServerOptions",
    "SpeechToTextEngine",
    "TextToSpeechEngine",
    "VadEngine",
    "VoiceActivityDetector",
    "WarmableEngine",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM_APP:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import app

    value = getattr(app, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
