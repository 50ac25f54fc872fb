"""`RealtimeRunConfig`: options for one run of an agent session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

from ..settings import RealtimeSessionModelSettings
from .agent import AgentHooks
from .guardrails import (
    InputGuardrail,
    InputGuardrailResult,
    OutputGuardrail,
    OutputGuardrailResult,
)
from .metrics import Clock


class RealtimeRunConfig(TypedDict, total=False):
    """Options for `RealtimeRunner`; every key is optional."""

    model_settings: RealtimeSessionModelSettings
    """Session settings for every agent; each agent's own `settings` are merged over them."""
    output_guardrails: Sequence[OutputGuardrail]
    """Guardrails for every agent, in addition to each agent's own."""
    guardrail_debounce_text_length: int
    """Run output guardrails each time this many more characters streamed in (default 100)."""
    guardrail_recovery_message: str | Callable[[Sequence[OutputGuardrailResult]], str]
    """The message sent after a trip so the agent recovers (a default is provided)."""
    input_guardrails: Sequence[InputGuardrail]
    """Input guardrails for every agent, in addition to each agent's own."""
    input_guardrail_recovery_message: str | Callable[[Sequence[InputGuardrailResult]], str]
    """Sent after spoken input was blocked so the agent steers on (a default is provided; an
    empty string sends none)."""
    input_guardrail_tool_wait_s: float
    """With input guardrails, how long a tool call answering a spoken turn waits for that
    turn's check (default 5 s, >= 0); if it has not finished by then the call is not run."""
    hooks: AgentHooks
    """Hooks called for every agent, after the agent's own hooks."""
    tool_timeout_s: float | None
    """Timeout for tools that set none (default: no limit)."""
    event_queue_size: int
    """The bound of each consumer's event queue (default 1024); see `RealtimeSession`."""
    raw_model_events: bool
    """Also yield every model event as `raw_model_event` (default: only unmapped ones)."""
    keep_audio_in_history: bool
    """Keep user audio bytes in `session.history` (default False: transcripts only)."""
    clock: Clock
    """The clock for turn metrics (default `time.monotonic`); inject one in tests."""
