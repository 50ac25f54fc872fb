"""The agents layer: `RealtimeAgent`, tools, handoffs, guardrails, `RealtimeRunner` and sessions.

Needs pydantic (`pip install 'realtime-agents[agents]'`) for tool schemas. Everything in
`__all__` is public; the session's machinery (event fan-out, the helpers behind
`RealtimeSession`) is internal and imported from its own module where needed.
"""

from __future__ import annotations

try:
    import pydantic  # noqa: F401  (tool schemas come from type hints through pydantic)
except ModuleNotFoundError:
    raise ImportError(
        "realtime_agents.agents needs pydantic, which is not installed: install the [agents] "
        "extra (pip install 'pydantic>=2.10,<3')"
    ) from None

from .agent import AgentHooks, Instructions, RealtimeAgent
from .broadcast import Subscription
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
    ToolBlockReason,
    ToolCallBlockedEvent,
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
    "AgentEndEvent",
    "AgentHooks",
    "AgentStartEvent",
    "AudioEndEvent",
    "AudioEvent",
    "AudioInterruptedEvent",
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
    "ToolBlockReason",
    "ToolCallBlockedEvent",
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
    "function_tool",
    "handoff",
    "input_guardrail",
    "output_guardrail",
    "tool_input_guardrail",
]
