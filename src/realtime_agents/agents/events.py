"""Typed events a `RealtimeSession` yields to its consumers (`RealtimeSessionEvent`).

Each event is a small immutable struct whose `type` field is a literal, so `match event.type`
(or `isinstance`) narrows the union. Events carry the objects involved (agents, tools) so an app
can react without keeping its own lookups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import msgspec

from ..events import RealtimeErrorInfo, RealtimeModelEvent, RealtimeUsage
from ..items import RealtimeItem

if TYPE_CHECKING:
    from .agent import RealtimeAgent
    from .guardrails import InputGuardrailResult, OutputGuardrailResult, ToolInputGuardrail
    from .handoffs import Handoff
    from .metrics import SessionUsage, TurnMetrics
    from .tools import FunctionTool, ToolStatus

TranscriptRole: TypeAlias = Literal["user", "assistant"]
ToolBlockReason: TypeAlias = Literal[
    "tripped", "timeout", "transcription_failed", "transcript_empty", "item_deleted", "check_failed"
]
"""Why a tool call answering a spoken turn was not run (see `ToolCallBlockedEvent`)."""


class AgentStartEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The agent started a response (a model turn began)."""

    agent: RealtimeAgent
    response_id: str | None = None
    type: Literal["agent_start"] = "agent_start"


class AgentEndEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The agent finished a response (a model turn ended)."""

    agent: RealtimeAgent
    response_id: str | None = None
    status: str | None = None
    type: Literal["agent_end"] = "agent_end"


class HandoffEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The session switched from one agent to another."""

    from_agent: RealtimeAgent
    to_agent: RealtimeAgent
    call_id: str
    type: Literal["handoff"] = "handoff"


class ToolStartEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tool started running."""

    agent: RealtimeAgent
    tool: FunctionTool
    call_id: str
    arguments: str
    type: Literal["tool_start"] = "tool_start"


class ToolEndEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tool finished; `output` is what the model was sent, `status` says how it went."""

    agent: RealtimeAgent
    tool: FunctionTool
    call_id: str
    arguments: str
    output: str
    status: ToolStatus
    value: Any = None
    """The tool's return value (None unless `status == "completed"`)."""
    type: Literal["tool_end"] = "tool_end"


class ToolApprovalRequiredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call waits for `session.approve_tool_call(call_id)` or `reject_tool_call(call_id)`."""

    agent: RealtimeAgent
    tool: FunctionTool
    call_id: str
    arguments: str
    type: Literal["tool_approval_required"] = "tool_approval_required"


class ToolGuardrailRejectedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tool input guardrail rejected a call: the tool did not run, `message` was its output."""

    agent: RealtimeAgent
    tool: FunctionTool
    call_id: str
    arguments: str
    guardrail: ToolInputGuardrail
    message: str
    type: Literal["tool_guardrail_rejected"] = "tool_guardrail_rejected"


class ToolCallBlockedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call or handoff answering a spoken turn was not run, because the turn's input
    guardrails blocked it (`reason="tripped"`) or could not check it in time (any other reason).

    `message` was sent to the model as the call's output. No `tool_start`, `tool_end` or
    `handoff` follows for this call.
    """

    agent: RealtimeAgent
    tool: FunctionTool | Handoff
    """The tool, or the handoff, the model called."""
    call_id: str
    arguments: str
    item_id: str
    """The spoken user item the call answered."""
    reason: ToolBlockReason
    message: str
    results: tuple[InputGuardrailResult, ...] = ()
    """The input guardrails that tripped (empty unless `reason="tripped"`)."""
    type: Literal["tool_call_blocked"] = "tool_call_blocked"


class AudioEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A chunk of assistant audio in the session's output format."""

    data: bytes
    item_id: str
    response_id: str
    content_index: int = 0
    type: Literal["audio"] = "audio"


class AudioEndEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The assistant finished sending audio for this item."""

    item_id: str
    content_index: int = 0
    type: Literal["audio_end"] = "audio_end"


class AudioInterruptedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Stop playing this item's audio now (barge-in, interrupt or guardrail)."""

    item_id: str
    content_index: int = 0
    type: Literal["audio_interrupted"] = "audio_interrupted"


class TranscriptDeltaEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece of a transcript (user speech or assistant audio/text)."""

    role: TranscriptRole
    item_id: str
    delta: str
    response_id: str | None = None
    content_index: int = 0
    type: Literal["transcript_delta"] = "transcript_delta"


class TranscriptDoneEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A transcript is final."""

    role: TranscriptRole
    item_id: str
    transcript: str
    response_id: str | None = None
    content_index: int = 0
    type: Literal["transcript_done"] = "transcript_done"


class InputSpeechStartedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The user started speaking (server VAD)."""

    item_id: str
    audio_start_ms: int
    type: Literal["input_speech_started"] = "input_speech_started"


class InputSpeechStoppedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The user stopped speaking (server VAD)."""

    item_id: str
    audio_end_ms: int
    type: Literal["input_speech_stopped"] = "input_speech_stopped"


class InputAudioTimeoutEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Server VAD's idle timeout fired with no speech."""

    item_id: str
    type: Literal["input_audio_timeout_triggered"] = "input_audio_timeout_triggered"


class HistoryAddedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An item joined the conversation; `session.history` has it at its place."""

    item: RealtimeItem
    type: Literal["history_added"] = "history_added"


class HistoryUpdatedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An item changed (transcript grew, status changed, tool output arrived)."""

    item: RealtimeItem
    type: Literal["history_updated"] = "history_updated"


class HistoryDeletedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An item was removed from the conversation."""

    item_id: str
    type: Literal["history_deleted"] = "history_deleted"


class GuardrailTrippedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An output guardrail tripped; the response was cancelled and the agent asked to recover."""

    results: tuple[OutputGuardrailResult, ...]
    text: str
    """The transcript that tripped it."""
    item_id: str
    response_id: str | None = None
    type: Literal["guardrail_tripped"] = "guardrail_tripped"


class InputGuardrailTrippedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An input guardrail blocked what the user said.

    A text message (`source="text"`) was not sent and no response was created. Speech
    (`source="speech"`) was checked on its final transcript: its user item was deleted from the
    model's conversation, the answer to it was stopped if it was still running, and the agent was
    asked to steer the conversation on.
    """

    results: tuple[InputGuardrailResult, ...]
    """The guardrails that tripped."""
    text: str
    """The user's text (or the transcript of their speech)."""
    source: Literal["text", "speech"]
    item_id: str | None = None
    """The deleted user item (speech only)."""
    response_id: str | None = None
    """The response that answered the speech, if it had started."""
    response_interrupted: bool = False
    """Whether that response was still running and was stopped."""
    type: Literal["input_guardrail_tripped"] = "input_guardrail_tripped"


class ErrorEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something went wrong; the session goes on (`end_of_stream` ends iteration, errors do not)."""

    message: str
    error: RealtimeErrorInfo | None = None
    """The server's error, when it reported one."""
    exception: BaseException | None = None
    """The exception, when one was raised (a hook, a guardrail, the model)."""
    type: Literal["error"] = "error"


class UsageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Token usage of one response, and the session's running totals."""

    usage: RealtimeUsage
    totals: SessionUsage
    response_id: str | None = None
    type: Literal["usage"] = "usage"


class TurnMetricsEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Timing of one finished response (latency from the end of user input)."""

    metrics: TurnMetrics
    type: Literal["turn_metrics"] = "turn_metrics"


class RawModelEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A model event with no session event of its own (or every one, if configured)."""

    data: RealtimeModelEvent
    type: Literal["raw_model_event"] = "raw_model_event"


RealtimeSessionEvent: TypeAlias = (
    AgentStartEvent
    | AgentEndEvent
    | HandoffEvent
    | ToolStartEvent
    | ToolEndEvent
    | ToolApprovalRequiredEvent
    | ToolGuardrailRejectedEvent
    | ToolCallBlockedEvent
    | AudioEvent
    | AudioEndEvent
    | AudioInterruptedEvent
    | TranscriptDeltaEvent
    | TranscriptDoneEvent
    | InputSpeechStartedEvent
    | InputSpeechStoppedEvent
    | InputAudioTimeoutEvent
    | HistoryAddedEvent
    | HistoryUpdatedEvent
    | HistoryDeletedEvent
    | GuardrailTrippedEvent
    | InputGuardrailTrippedEvent
    | ErrorEvent
    | UsageEvent
    | TurnMetricsEvent
    | RawModelEvent
)
"""Every event a `RealtimeSession` yields."""
