"""An answer cut short (by a dropped connection or by the user) after a reconnect, over real
sockets: the new server gets what the user received or heard of it, and never an empty message."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from provider_helpers import Collector, open_model

from realtime_agents.inputs import RealtimeModelSendCreateResponse
from realtime_agents.model import RealtimePlaybackTracker
from realtime_agents.providers.openai.replay import heard_part
from realtime_agents.testing.fake_server import (
    FakeRealtimeServer,
    ScriptedResponse,
    audio_response,
    events_of,
)

FAST_RECONNECT = {"max_attempts": 3, "initial_backoff_s": 0.01, "max_backoff_s": 0.05}
PCM_1S = bytes(range(256)) * 187 + bytes(48)  # 48,000 bytes = 1 s of PCM16 at 24 kHz
STORY = "Once upon a time a fox lived by the river and sang."


def cut_audio_answer(transcript: str, after_events: int) -> ScriptedResponse:
    """A 1 s audio answer whose connection drops after `after_events` of its events (the
    events: output_item.added, item.added, content_part.added, the transcript delta if any,
    then 10 audio deltas)."""
    answer = audio_response(PCM_1S, 4800, transcript=transcript)
    answer.close_after_events = after_events
    return answer


async def replayed_items(server: FakeRealtimeServer, collector: Collector) -> list[Any]:
    """The items the client re-created on the second connection."""
    await server.wait_for_connections(2)
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    await server.wait_for("conversation.item.create")
    replay = server.connections[1].received
    return [event["item"] for event in events_of(replay, "conversation.item.create")]


async def test_an_answer_cut_by_a_drop_is_replayed_as_the_transcript_received(
    server: FakeRealtimeServer,
) -> None:
    server.script(cut_audio_answer(STORY, after_events=6))  # the transcript and 2 of 10 deltas
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await model.send_event(RealtimeModelSendCreateResponse())
    cut = await collector.wait_for("turn_ended")
    assert (cut.status, cut.status_reason) == ("incomplete", "connection_lost")
    items = await replayed_items(server, collector)
    assert items == [
        {
            "id": items[0]["id"],
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": STORY}],
        }
    ]
    assert items[0]["id"] == collector.of("transcript_delta")[0].item_id
    await model.close()


async def test_a_cut_text_answer_is_replayed_as_the_text_received(
    server: FakeRealtimeServer,
) -> None:
    # output_item.added, item.added, content_part.added, then two of five text deltas.
    server.script(ScriptedResponse([{"text": "abcdefghij", "chunks": 5}], close_after_events=5))
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await model.send_event(RealtimeModelSendCreateResponse())
    await collector.wait_for("turn_ended")
    items = await replayed_items(server, collector)
    assert [item["content"] for item in items] == [[{"type": "output_text", "text": "abcd"}]]
    await model.close()


async def test_an_answer_cut_before_any_text_is_left_out(server: FakeRealtimeServer) -> None:
    server.script(cut_audio_answer("", after_events=5))  # audio received, no transcript
    collector = Collector()
    model = await open_model(server, collector, reconnect=FAST_RECONNECT)
    await model.send_event(RealtimeModelSendCreateResponse())
    await collector.wait_for("turn_ended")
    await collector.wait_for("connection_status", 2, lambda e: e.status == "connected")
    await model.send_event(RealtimeModelSendCreateResponse())  # a mark after any replay
    await server.wait_for("response.create", 2)
    replay = server.connections[1].received
    assert events_of(replay, "conversation.item.create") == []  # nothing, not an empty message
    await model.close()


async def test_an_interrupted_answer_is_replayed_as_far_as_it_was_heard() -> None:
    async with FakeRealtimeServer() as server:
        server.script(audio_response(PCM_1S, 4800, transcript=STORY))
        collector = Collector()
        tracker = RealtimePlaybackTracker()
        model = await open_model(
            server, collector, playback_tracker=tracker, reconnect=FAST_RECONNECT
        )
        await model.send_event(RealtimeModelSendCreateResponse())
        first = await collector.wait_for("audio")
        await collector.wait_for("turn_ended")
        tracker.on_play_ms(first.item_id, 0, 500)  # the user heard half of the 1 s answer
        await server.speech_started()
        truncate = await server.wait_for("conversation.item.truncate")
        assert truncate["audio_end_ms"] == 500
        await collector.wait_for("item_truncated")

        await server.close_connection(1011)
        items = await replayed_items(server, collector)
        # Half of the 51 characters is 25: "Once upon a time a fox li"; the word cut in half goes.
        assert [item["content"] for item in items] == [
            [{"type": "output_text", "text": "Once upon a time a fox"}]
        ]
        await model.close()


@given(st.text(alphabet="ab ", max_size=40), st.floats(min_value=0.0, max_value=1.0))
def test_the_heard_part_is_a_prefix_of_whole_words(text: str, fraction: float) -> None:
    part = heard_part(text, fraction)
    assert text.startswith(part)
    assert len(part) <= len(text) * fraction or fraction == 1.0
    rest = text[len(part) :]
    assert not part or not rest or rest[0] == " "  # no word cut in half, no trailing space
