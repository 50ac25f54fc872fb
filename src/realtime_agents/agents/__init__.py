"""The agents layer: `RealtimeAgent`, tools, handoffs, guardrails, `RealtimeRunner` and sessions.

Needs pydantic (`pip install 'realtime-agents[agents]'`) for tool schemas.
"""

from __future__ import annotations

from .agent import AgentHooks, Instructions, RealtimeAgent, build_agent_settings
from .broadcast import DEFAULT_MAX_QUEUE_SIZE, Broadcaster, Subscription
from .config import RealtimeRunConfig
from .events import (
    AgentEndEvent,
    AgentStartEvent,
    AudioEndEvent,
    AudioEvent,
    AudioInterruptedEvent,
    ErrorEvent,
    GuardrailTrippedEvent,
    HandoffEvent,
    HistoryAddedEvent,
    HistoryDeletedEvent,
    HistoryUpdatedEvent,
    InputAudioTimeoutEvent,
    InputGuardrailTrippedEvent,
    InputSpeechStartedEvent,
    InputSpeechStoppedEvent,
    RawModelEvent,
    RealtimeSessionEvent,
    ToolApprovalRequiredEvent,
    ToolEndEvent,
    ToolGuardrailRejectedEvent,
    ToolStartEvent,
    TranscriptDeltaEvent,
    TranscriptDoneEvent,
    TranscriptRole,
    TurnMetricsEvent,
    UsageEvent,
)
from .guardrails import (
    DEFAULT_DEBOUNCE_TEXT_LENGTH,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailResult,
    OutputGuardrail,
    OutputGuardrailResult,
    ToolGuardrailFunction,
    ToolInputGuardrail,
    input_guardrail,
    output_guardrail,
    tool_input_guardrail,
)
from .handoffs import Handoff, handoff
from .history import ConversationHistory
from .metrics import Clock, SessionUsage, TurnMetrics
from .runner import RealtimeRunner
from .session import RealtimeSession
from .tool_calls import PendingApproval
from .tools import (
    FunctionTool,
    ToolArgumentsError,
    ToolContext,
    ToolResult,
    ToolStatus,
    function_tool,
)

__all__ = [
    "DEFAULT_DEBOUNCE_TEXT_LENGTH",
    "DEFAULT_MAX_QUEUE_SIZE",
    "AgentEndEvent",
    "AgentHooks",
    "AgentStartEvent",
    "AudioEndEvent",
    "AudioEvent",
    "AudioInterruptedEvent",
    "Broadcaster",
    "Clock",
    "ConversationHistory",
    "ErrorEvent",
    "FunctionTool",
    "GuardrailFunctionOutput",
    "GuardrailTrippedEvent",
    "Handoff",
    "HandoffEvent",
    "HistoryAddedEvent",
    "HistoryDeletedEvent",
    "HistoryUpdatedEvent",
    "InputAudioTimeoutEvent",
    "InputGuardrail",
    "InputGuardrailResult",
    "InputGuardrailTrippedEvent",
    "InputSpeechStartedEvent",
    "InputSpeechStoppedEvent",
    "Instructions",
    "OutputGuardrail",
    "OutputGuardrailResult",
    "PendingApproval",
    "RawModelEvent",
    "RealtimeAgent",
    "RealtimeRunConfig",
    "RealtimeRunner",
    "RealtimeSession",
    "RealtimeSessionEvent",
    "SessionUsage",
    "Subscription",
    "ToolApprovalRequiredEvent",
    "ToolArgumentsError",
    "ToolContext",
    "ToolEndEvent",
    "ToolGuardrailFunction",
    "ToolGuardrailRejectedEvent",
    "ToolInputGuardrail",
    "ToolResult",
    "ToolStartEvent",
    "ToolStatus",
    "TranscriptDeltaEvent",
    "TranscriptDoneEvent",
    "TranscriptRole",
    "TurnMetrics",
    "TurnMetricsEvent",
    "UsageEvent",
    "build_agent_settings",
    "function_tool",
    "handoff",
    "input_guardrail",
    "output_guardrail",
    "tool_input_guardrail",
]
