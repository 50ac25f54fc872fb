"""Mapping model events to session state changes and session events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import (
    RealtimeModelAudioEvent,
    RealtimeModelEvent,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelOutputTextDeltaEvent,
    RealtimeModelOutputTextDoneEvent,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    RealtimeModelTurnEndedEvent,
    RealtimeModelUsageEvent,
)
from ..items import InputAudio, UserMessageItem
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

if TYPE_CHECKING:
    from .session import RealtimeSession


class ModelEventHandler:
    """Folds each model event into the session (history, metrics, tools) and emits events.

    Transcript deltas update the history item and emit `transcript_delta` plus one
    `history_updated` for that item (not coalesced; the event carries only the changed item,
    so each costs O(1), not a copy of the history). Events without a session event of their
    own are passed on as `raw_model_event`, so nothing is lost.
    """

    def __init__(self, session: RealtimeSession) -> None:
        self._session = session
        self._raw_all = session._config.get("raw_model_events", False)

    async def handle(self, event: RealtimeModelEvent) -> None:
        """Handle one model event."""
        session = self._session
        if self._raw_all:
            await session._publish(RawModelEvent(data=event))
        handled = True
        match event.type:
            case "audio":
                await self._audio(event)
            case "audio_interrupted":
                await session._publish(
                    AudioInterruptedEvent(item_id=event.item_id, content_index=event.content_index)
                )
            case "audio_done":
                await session._publish(
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
                session._input_guardrails.on_transcription_failed(event.item_id)
                await session._publish(
                    ErrorEvent(
                        message=f"transcription of user item {event.item_id} failed: "
                        f"{event.error.message}",
                        error=event.error,
                    )
                )
            case "input_speech_started":
                await session._publish(
                    InputSpeechStartedEvent(
                        item_id=event.item_id, audio_start_ms=event.audio_start_ms
                    )
                )
            case "input_speech_stopped":
                session._metrics.input_ended("speech")
                await session._publish(
                    InputSpeechStoppedEvent(item_id=event.item_id, audio_end_ms=event.audio_end_ms)
                )
            case "input_audio_timeout_triggered":
                await session._publish(InputAudioTimeoutEvent(item_id=event.item_id))
            case "function_call":
                change = session._note_tool_call_item(event)
                session._on_tool_call(event)
                if change is not None:
                    await session._publish_change(change)
            case "item_updated":
                change = session._history.apply(event.item, event.previous_item_id)
                await session._publish_change(change)
                if isinstance(event.item, UserMessageItem):
                    self._user_item(event.item, added=change[0] == "added")
            case "item_deleted":
                session._input_guardrails.on_item_deleted(event.item_id)
                if session._history.delete(event.item_id):
                    await session._publish(HistoryDeletedEvent(item_id=event.item_id))
            case "turn_started":
                session._metrics.turn_started(event.response_id)
                session._input_guardrails.on_turn_started(event.response_id)
                agent = session.current_agent
                await session._publish(AgentStartEvent(agent=agent, response_id=event.response_id))
                await session._call_hooks((agent,), "on_start", agent)
            case "turn_ended":
                await self._turn_ended(event)
            case "usage":
                await self._usage(event)
            case "error":
                await session._publish(ErrorEvent(message=event.error.message, error=event.error))
            case "exception":
                where = event.context or "the model"
                await session._publish(
                    ErrorEvent(message=f"{where}: {event.exception}", exception=event.exception)
                )
            case "end_of_stream":
                if not self._raw_all:
                    await session._publish(RawModelEvent(data=event))
                session._broadcaster.close()  # consumers drain what is queued, then stop
                return
            case _:
                handled = False
        if not handled and not self._raw_all:
            await session._publish(RawModelEvent(data=event))

    async def _audio(self, event: RealtimeModelAudioEvent) -> None:
        session = self._session
        if session._guardrails.is_tripped(event.response_id):
            return
        session._audio_produced = True
        session._metrics.first_audio(event.response_id)
        await session._publish(
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
        session = self._session
        if session._guardrails.is_tripped(event.response_id):
            return
        session._metrics.first_transcript(event.response_id)
        if event.type == "transcript_delta":
            change = session._history.add_transcript_delta(
                "assistant", event.item_id, event.delta, event.content_index
            )
        else:
            change = session._history.add_text_delta(
                event.item_id, event.delta, event.content_index
            )
        await session._publish(
            TranscriptDeltaEvent(
                role="assistant",
                item_id=event.item_id,
                delta=event.delta,
                response_id=event.response_id,
                content_index=event.content_index,
            )
        )
        await session._publish_change(change)
        session._guardrails.on_delta(event.item_id, event.response_id, event.delta)

    async def _assistant_done(
        self, event: RealtimeModelTranscriptDoneEvent | RealtimeModelOutputTextDoneEvent
    ) -> None:
        session = self._session
        if session._guardrails.is_tripped(event.response_id):
            return
        text = event.transcript if event.type == "transcript_done" else event.text
        if event.type == "transcript_done":
            change = session._history.set_transcript(
                "assistant", event.item_id, text, event.content_index
            )
            await session._publish_change(change)
        await session._publish(
            TranscriptDoneEvent(
                role="assistant",
                item_id=event.item_id,
                transcript=text,
                response_id=event.response_id,
                content_index=event.content_index,
            )
        )
        session._guardrails.on_done(event.item_id, event.response_id, text)

    async def _user_delta(self, event: RealtimeModelInputAudioTranscriptionDeltaEvent) -> None:
        session = self._session
        change = session._history.add_transcript_delta(
            "user", event.item_id, event.delta, event.content_index
        )
        await session._publish(
            TranscriptDeltaEvent(
                role="user",
                item_id=event.item_id,
                delta=event.delta,
                content_index=event.content_index,
            )
        )
        await session._publish_change(change)

    async def _user_done(self, event: RealtimeModelInputAudioTranscriptionCompletedEvent) -> None:
        session = self._session
        change = session._history.set_transcript(
            "user", event.item_id, event.transcript, event.content_index
        )
        await session._publish(
            TranscriptDoneEvent(
                role="user",
                item_id=event.item_id,
                transcript=event.transcript,
                content_index=event.content_index,
            )
        )
        await session._publish_change(change)
        session._input_guardrails.on_transcript(event.item_id, event.transcript, final=True)

    def _user_item(self, item: UserMessageItem, *, added: bool) -> None:
        """A user item from the model: the next response answers it; check its transcript."""
        guardrails = self._session._input_guardrails
        audio = [p for p in item.content if isinstance(p, InputAudio)]
        if added:
            guardrails.on_user_item(item.item_id, spoken=bool(audio))
        transcripts = [p.transcript for p in audio]
        guardrails.on_transcript(item.item_id, " ".join(t for t in transcripts if t))

    async def _turn_ended(self, event: RealtimeModelTurnEndedEvent) -> None:
        session = self._session
        metrics = session._metrics.turn_ended(event.response_id, event.status)
        agent = session.current_agent
        if metrics is not None:
            await session._publish(TurnMetricsEvent(metrics=metrics))
        await session._publish(
            AgentEndEvent(agent=agent, response_id=event.response_id, status=event.status)
        )
        await session._call_hooks((agent,), "on_end", agent)
        session._guardrails.debouncer.forget_response(event.response_id)
        session._input_guardrails.on_turn_ended(event.response_id)

    async def _usage(self, event: RealtimeModelUsageEvent) -> None:
        session = self._session
        session._metrics.add_usage(event.response_id, event.usage)
        await session._publish(
            UsageEvent(usage=event.usage, totals=session.usage, response_id=event.response_id)
        )
