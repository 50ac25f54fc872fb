"""Mapping model events to session state changes and session events."""

from __future__ import annotations

from ..events import (
    RealtimeModelAudioEvent,
    RealtimeModelEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelOutputTextDeltaEvent,
    RealtimeModelOutputTextDoneEvent,
    RealtimeModelToolCallEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelUsageEvent,
)
from ..items import FunctionCallItem, InputAudio, UserMessageItem
from .core import SessionCore
from .events import (
    AgentEndEvent,
    AgentStartEvent,
    AudioEndEvent,
    AudioEvent,
    AudioInterruptedEvent,
    ErrorEvent,
    HistoryDeletedEvent,
    InputAudioTimeoutEvent,
    InputSpeechStartedEvent,
    InputSpeechStoppedEvent,
    RawModelEvent,
    TranscriptDeltaEvent,
    TranscriptDoneEvent,
    TurnMetricsEvent,
    UsageEvent,
)
from .guardrails_runner import GuardrailRunner
from .history import Change
from .input_guardrails_runner import InputGuardrailRunner
from .tool_calls import ToolCallRunner


class ModelEventHandler:
    """Folds each model event into the core (history, metrics) and the helpers (tool calls,
    output and input guardrails), and emits session events.

    Transcript deltas update the history item and emit `transcript_delta` plus one
    `history_updated` for that item (not coalesced; the event carries only the changed item,
    so each costs O(1), not a copy of the history). Events without a session event of their
    own are passed on as `raw_model_event`, so nothing is lost.
    """

    def __init__(
        self,
        core: SessionCore,
        tools: ToolCallRunner,
        output_guardrails: GuardrailRunner,
        input_guardrails: InputGuardrailRunner,
    ) -> None:
        self._core = core
        self._tools = tools
        self._output_guardrails = output_guardrails
        self._input_guardrails = input_guardrails
        self._raw_all = core.config.get("raw_model_events", False)

    async def handle(self, event: RealtimeModelEvent) -> None:
        """Handle one model event."""
        core = self._core
        if self._raw_all:
            await core.publish(RawModelEvent(data=event))
        handled = True
        match event.type:
            case "audio":
                await self._audio(event)
            case "audio_interrupted":
                await core.publish(
                    AudioInterruptedEvent(item_id=event.item_id, content_index=event.content_index)
                )
            case "audio_done":
                await core.publish(
                    AudioEndEvent(item_id=event.item_id, content_index=event.content_index)
                )
            case "transcript_delta" | "output_text_delta":
                await self._assistant_delta(event)
            case "transcript_done" | "output_text_done":
                await self._assistant_done(event)
            case "input_audio_transcription_delta":
                await self._user_delta(event)
            case "input_audio_transcription_completed":
                await self._user_done(event)
            case "input_audio_transcription_failed":
                self._input_guardrails.on_transcription_failed(event.item_id)
                await core.publish(
                    ErrorEvent(
                        message=f"transcription of user item {event.item_id} failed: "
                        f"{event.error.message}",
                        error=event.error,
                    )
                )
            case "input_speech_started":
                await core.publish(
                    InputSpeechStartedEvent(
                        item_id=event.item_id, audio_start_ms=event.audio_start_ms
                    )
                )
            case "input_speech_stopped":
                core.metrics.input_ended("speech")
                await core.publish(
                    InputSpeechStoppedEvent(item_id=event.item_id, audio_end_ms=event.audio_end_ms)
                )
            case "input_audio_timeout_triggered":
                await core.publish(InputAudioTimeoutEvent(item_id=event.item_id))
            case "function_call":
                change = self._note_tool_call_item(event)
                self._tools.on_tool_call(event)
                if change is not None:
                    await core.publish_change(change)
            case "item_updated":
                change = core.history.apply(event.item, event.previous_item_id)
                await core.publish_change(change)
                if isinstance(event.item, UserMessageItem):
                    self._user_item(event.item, added=change[0] == "added")
            case "item_deleted":
                self._input_guardrails.on_item_deleted(event.item_id)
                if core.history.delete(event.item_id):
                    await core.publish(HistoryDeletedEvent(item_id=event.item_id))
            case "turn_started":
                core.metrics.turn_started(event.response_id)
                self._input_guardrails.on_turn_started(event.response_id)
                agent = core.agent
                await core.publish(AgentStartEvent(agent=agent, response_id=event.response_id))
                await core.call_hooks((agent,), "on_start", agent)
            case "turn_ended":
                await self._turn_ended(event)
            case "usage":
                await self._usage(event)
            case "error":
                await core.publish(ErrorEvent(message=event.error.message, error=event.error))
            case "exception":
                where = event.context or "the model"
                await core.publish(
                    ErrorEvent(message=f"{where}: {event.exception}", exception=event.exception)
                )
            case "end_of_stream":
                if not self._raw_all:
                    await core.publish(RawModelEvent(data=event))
                core.broadcaster.close()  # consumers drain what is queued, then stop
                return
            case _:
                handled = False
        if not handled and not self._raw_all:
            await core.publish(RawModelEvent(data=event))

    async def _audio(self, event: RealtimeModelAudioEvent) -> None:
        core = self._core
        if self._output_guardrails.is_tripped(event.response_id):
            return
        core.audio_produced = True
        core.metrics.first_audio(event.response_id)
        await core.publish(
            AudioEvent(
                data=event.data,
                item_id=event.item_id,
                response_id=event.response_id,
                content_index=event.content_index,
            )
        )

    async def _assistant_delta(
        self, event: RealtimeModelTranscriptDeltaEvent | RealtimeModelOutputTextDeltaEvent
    ) -> None:
        core = self._core
        if self._output_guardrails.is_tripped(event.response_id):
            return
        core.metrics.first_transcript(event.response_id)
        if event.type == "transcript_delta":
            change = core.history.add_transcript_delta(
                "assistant", event.item_id, event.delta, event.content_index
            )
        else:
            change = core.history.add_text_delta(event.item_id, event.delta, event.content_index)
        await core.publish(
            TranscriptDeltaEvent(
                role="assistant",
                item_id=event.item_id,
                delta=event.delta,
                response_id=event.response_id,
                content_index=event.content_index,
            )
        )
        await core.publish_change(change)
        self._output_guardrails.on_delta(event.item_id, event.response_id, event.delta)

    async def _assistant_done(
        self, event: RealtimeModelTranscriptDoneEvent | RealtimeModelOutputTextDoneEvent
    ) -> None:
        core = self._core
        if self._output_guardrails.is_tripped(event.response_id):
            return
        text = event.transcript if event.type == "transcript_done" else event.text
        if event.type == "transcript_done":
            change = core.history.set_transcript(
                "assistant", event.item_id, text, event.content_index
            )
            await core.publish_change(change)
        await core.publish(
            TranscriptDoneEvent(
                role="assistant",
                item_id=event.item_id,
                transcript=text,
                response_id=event.response_id,
                content_index=event.content_index,
            )
        )
        self._output_guardrails.on_done(event.item_id, event.response_id, text)

    async def _user_delta(self, event: RealtimeModelInputAudioTranscriptionDeltaEvent) -> None:
        core = self._core
        change = core.history.add_transcript_delta(
            "user", event.item_id, event.delta, event.content_index
        )
        await core.publish(
            TranscriptDeltaEvent(
                role="user",
                item_id=event.item_id,
                delta=event.delta,
                content_index=event.content_index,
            )
        )
        await core.publish_change(change)

    async def _user_done(self, event: RealtimeModelInputAudioTranscriptionCompletedEvent) -> None:
        core = self._core
        change = core.history.set_transcript(
            "user", event.item_id, event.transcript, event.content_index
        )
        await core.publish(
            TranscriptDoneEvent(
                role="user",
                item_id=event.item_id,
                transcript=event.transcript,
                content_index=event.content_index,
            )
        )
        await core.publish_change(change)
        self._input_guardrails.on_transcript(event.item_id, event.transcript, final=True)

    def _user_item(self, item: UserMessageItem, *, added: bool) -> None:
        """A user item from the model: the next response answers it; check its transcript."""
        guardrails = self._input_guardrails
        audio = [p for p in item.content if isinstance(p, InputAudio)]
        if added:
            guardrails.on_user_item(item.item_id, spoken=bool(audio))
        transcripts = [p.transcript for p in audio]
        guardrails.on_transcript(item.item_id, " ".join(t for t in transcripts if t))

    async def _turn_ended(self, event: RealtimeModelTurnEndedEvent) -> None:
        core = self._core
        metrics = core.metrics.turn_ended(event.response_id, event.status)
        agent = core.agent
        if metrics is not None:
            await core.publish(TurnMetricsEvent(metrics=metrics))
        await core.publish(
            AgentEndEvent(agent=agent, response_id=event.response_id, status=event.status)
        )
        await core.call_hooks((agent,), "on_end", agent)
        self._output_guardrails.debouncer.forget_response(event.response_id)
        self._input_guardrails.on_turn_ended(event.response_id)

    async def _usage(self, event: RealtimeModelUsageEvent) -> None:
        core = self._core
        core.metrics.add_usage(event.response_id, event.usage)
        await core.publish(
            UsageEvent(usage=event.usage, totals=core.metrics.usage, response_id=event.response_id)
        )

    def _note_tool_call_item(self, call: RealtimeModelToolCallEvent) -> Change | None:
        """Add the call's item to the history unless it is there (or has no item id)."""
        history = self._core.history
        if call.id is None or call.id in history:
            return None
        return history.apply(
            FunctionCallItem(
                item_id=call.id,
                call_id=call.call_id,
                name=call.name,
                arguments=call.arguments,
                previous_item_id=call.previous_item_id,
                status="in_progress",
            )
        )
