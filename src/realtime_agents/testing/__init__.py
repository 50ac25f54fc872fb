"""Test helpers: a scripted in-memory `RealtimeModel` for testing apps and agents."""

from __future__ import annotations

from ..redaction import redact_url
from .scripted import (
    RealtimeScriptError,
    RealtimeSendMatcher,
    RealtimeStep,
    ScriptedConnectCall,
    ScriptedRealtimeModel,
    UnconsumedRealtimeSteps,
    UnexpectedRealtimeSend,
    describe_matcher,
)

__all__ = [
    "RealtimeScriptError",
    "RealtimeSendMatcher",
    "RealtimeStep",
    "ScriptedConnectCall",
    "ScriptedRealtimeModel",
    "UnconsumedRealtimeSteps",
    "UnexpectedRealtimeSend",
    "describe_matcher",
    "redact_url",
]
