"""History: merging model updates, transcripts (late ones too), ordering, and seeding."""

from __future__ import annotations

from agent_test_helpers import EventRecorder

from realtime_agents import (
    AssistantMessageItem,
    FunctionCallItem,
    InputAudio,
    InputText,
    OutputAudio,
    RealtimeItem,
    RealtimeModelInputAudioTranscriptionCompletedEvent,
    RealtimeModelInputAudioTranscriptionDeltaEvent,
    RealtimeModelItemDeletedEvent,
    RealtimeModelItemUpdatedEvent,
    RealtimeModelSendConversationItem,
    RealtimeModelTranscriptDeltaEvent,
    RealtimeModelTranscriptDoneEvent,
    UserMessageItem,
    item_text,
)
from realtime_agents.agents import ConversationHistory, RealtimeAgent, RealtimeRunner
from realtime_agents.testing import RealtimeStep, ScriptedRealtimeModel


def user(item_id: str, text: str | None = None, previous: str | None = None) -> UserMessageItem:
    content = (InputText(text=text),) if text is not None else (InputAudio(),)
    return UserMessageItem(item_id=item_id, content=content, previous_item_id=previous)


def assistant(item_id: str, transcript: str | None = None) -> AssistantMessageItem:
    return AssistantMessageItem(item_id=item_id, content=(OutputAudio(transcript=transcript),))


def test_items_go_after_previous_item_id_and_merges_keep_transcripts() -> None:
    history = ConversationHistory()
    history.apply(user("u1", "hi"))
    history.apply(assistant("a1"))
    assert history.apply(user("u2", "between"), previous_item_id="u1")[0] == "added"
    history.apply(user("u3", "unknown previous"), previous_item_id="nope")
    assert [i.item_id for i in history.items] == ["u1", "u2", "a1", "u3"]

    history.add_transcript_delta("assistant", "a1", "Hello ")
    history.add_transcript_delta("assistant", "a1", "there")
    kind, merged = history.apply(assistant("a1", transcript=None))  # server update, no transcript
    assert kind == "updated" and item_text(merged) == "Hello there"
    history.apply(assistant("a1", transcript="Hello"))  # a stale, shorter transcript
    assert item_text(history.get("a1")) == "Hello there"  # type: ignore[arg-type]
    history.apply(assistant("a1", transcript="Hello there, friend"))
    assert item_text(history.get("a1")) == "Hello there, friend"  # type: ignore[arg-type]

    call = FunctionCallItem(item_id="f1", call_id="c1", name="t", arguments='{"a":1}')
    history.apply(call)
    history.set_tool_output("c1", "42")
    merged_call = history.apply(FunctionCallItem(item_id="f1", call_id="c1", name="t"))[1]
    assert isinstance(merged_call, FunctionCallItem)
    assert (merged_call.arguments, merged_call.output) == ('{"a":1}', "42")
    assert history.delete("u3") and not history.delete("u3")
    assert len(history) == 4


def test_user_audio_bytes_are_dropped_unless_kept() -> None:
    item = UserMessageItem(item_id="u", content=(InputAudio(audio=b"\x00" * 100),))
    dropped = ConversationHistory().apply(item)[1]
    kept = ConversationHistory(keep_audio=True).apply(item)[1]
    assert isinstance(dropped, UserMessageItem) and isinstance(kept, UserMessageItem)
    assert dropped.content == (InputAudio(),)
    assert kept.content == item.content


async def test_transcript_deltas_update_history_and_emit_events() -> None:
    model = ScriptedRealtimeModel()
    async with await RealtimeRunner(RealtimeAgent(name="a"), model=model).run() as session:
        events = EventRecorder(session)
        await model.emit(
            RealtimeModelItemUpdatedEvent(item=assistant("a1")),
            RealtimeModelTranscriptDeltaEvent(item_id="a1", delta="Good ", response_id="r"),
            RealtimeModelTranscriptDeltaEvent(item_id="a1", delta="morning", response_id="r"),
        )
        await events.until("history_updated", count=2)
        assert item_text(session.history[0]) == "Good morning"
        updates = [e.item for e in events.of_type("history_updated")]
        assert [item_text(i) for i in updates] == ["Good ", "Good morning"]
        await model.emit(
            RealtimeModelTranscriptDoneEvent(
                item_id="a1", transcript="Good morning!", response_id="r"
            ),
            RealtimeModelItemUpdatedEvent(item=assistant("a1")),  # final update without transcript
        )
        done = await events.until("transcript_done")
        assert done.type == "transcript_done" and done.role == "assistant"
        await events.until("history_updated")  # the item update after the transcript
        assert item_text(session.history[0]) == "Good morning!"
    assert [e.role for e in events.of_type("transcript_delta")] == ["assistant", "assistant"]


async def test_late_user_transcript_lands_on_the_right_item() -> None:
    model = ScriptedRealtimeModel()
    async with await RealtimeRunner(RealtimeAgent(name="a"), model=model).run() as session:
        events = EventRecorder(session)
        await model.emit(
            RealtimeModelItemUpdatedEvent(item=user("u1")),
            RealtimeModelItemUpdatedEvent(item=assistant("a1", "Sure."), previous_item_id="u1"),
            RealtimeModelItemUpdatedEvent(item=user("u2"), previous_item_id="a1"),
            RealtimeModelInputAudioTranscriptionDeltaEvent(item_id="u2", delta="and "),
            RealtimeModelInputAudioTranscriptionCompletedEvent(
                item_id="u1", transcript="Book a table"
            ),
            RealtimeModelItemUpdatedEvent(item=user("u1")),  # a later update must not erase it
            RealtimeModelItemDeletedEvent(item_id="u2"),
        )
        await events.until("history_deleted")
        assert [i.item_id for i in session.history] == ["u1", "a1"]
        assert item_text(session.history[0]) == "Book a table"
        done = [e for e in events.seen if e.type == "transcript_done"]
        assert len(done) == 1 and done[0].role == "user" and done[0].item_id == "u1"
        updated = [e.item.item_id for e in events.of_type("history_updated")]
        assert updated == ["u2", "u1", "u1"]


async def test_seeded_history_is_sent_to_the_model_in_order() -> None:
    seed: list[RealtimeItem] = [
        user("old_u1", "What's my balance?"),
        AssistantMessageItem(item_id="old_a1", content=(OutputAudio(transcript="It is $5."),)),
        FunctionCallItem(item_id="old_f1", call_id="c0", name="lookup", output="5"),
    ]
    model = ScriptedRealtimeModel(
        [
            RealtimeStep(expect=RealtimeModelSendConversationItem),
            RealtimeStep(expect=RealtimeModelSendConversationItem),
            RealtimeStep(expect=RealtimeModelSendConversationItem),
        ]
    )
    runner = RealtimeRunner(RealtimeAgent(name="a"), model=model)
    session = await runner.run(history=seed)
    events = EventRecorder(session)  # subscribed before start: sees the seeding
    async with session:
        assert [i.item_id for i in session.history] == ["old_u1", "old_a1", "old_f1"]
        assert item_text(session.history[1]) == "It is $5."
        # The model echoes an item back: merged, not duplicated.
        await model.emit(RealtimeModelItemUpdatedEvent(item=user("old_u1", "")))
        assert len(session.history) == 3
        assert item_text(session.history[0]) == "What's my balance?"
    await events.rest()
    sends = model.sent_events
    assert all(isinstance(e, RealtimeModelSendConversationItem) for e in sends)
    assert [e.item.item_id for e in sends] == ["old_u1", "old_a1", "old_f1"]  # type: ignore[union-attr]
    assert [e.previous_item_id for e in sends] == [None, "old_u1", "old_a1"]  # type: ignore[union-attr]
    added = [e.item.item_id for e in events.of_type("history_added")]
    assert added == ["old_u1", "old_a1", "old_f1"]
    model.assert_complete()
